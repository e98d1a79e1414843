// `broker perf`: a load generator for any AMQP 0-9-1 broker (this one, RabbitMQ, …) in the
// spirit of RabbitMQ's PerfTest. The work is in the BrokerPerf module; this file is the
// command line.
import ArgumentParser
import BrokerPerf
import Foundation

struct PerfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Load-test an AMQP 0-9-1 broker: publish and consume, report msg/s and end-to-end latency.",
        discussion: """
            Each producer and consumer is its own connection. Queues are named perf-q-<i>; producers \
            and consumers are spread over them round-robin. Queues are declared (durable with \
            --persistent), purged at the start and deleted at the end unless --keep-queues. \
            Every second one line shows the send and receive rates and the latency of that second; \
            the end shows totals, latency percentiles and the tool's own CPU per message.
            """)

    @Option(help: "Broker URI: amqp://user:password@host:port/vhost.")
    var uri: String = "amqp://guest:guest@127.0.0.1:5672/"

    @Option(help: "Broker host (overrides the URI's host).")
    var host: String?

    @Option(help: "Broker port (overrides the URI's port).")
    var port: Int?

    @Option(help: "Number of producer connections.")
    var producers: Int = 1

    @Option(help: "Number of consumer connections.")
    var consumers: Int = 1

    @Option(help: "Number of queues (perf-q-0 …); producers and consumers are spread over them round-robin.")
    var queues: Int = 1

    @Option(help: "Publish through exchange perf-x of this type: direct (key = queue name), fanout (every message to every queue) or topic (binding perf-q-<i>.*). Default: the default exchange.")
    var exchangeType: String?

    @Option(help: "Message body size in bytes, at least 12 (send timestamp, producer id, sequence).")
    var size: Int = 12

    @Option(help: "Messages per second per producer; 0 = as fast as possible.")
    var rate: Double = 0

    @Option(help: "Publisher confirms with at most N unconfirmed messages per producer; 0 = off.")
    var confirm: Int = 0

    @Flag(help: "Persistent messages (delivery-mode 2) in durable queues.")
    var persistent = false

    @Flag(help: "Consumers use no-ack (the default unless --multi-ack-every is given).")
    var autoack = false

    @Option(help: "Manual acks: one basic.ack with multiple=true every N deliveries (1 = ack each).")
    var multiAckEvery: Int?

    @Option(help: "basic.qos prefetch count per consumer; 0 = none sent.")
    var prefetch: Int = 0

    @Option(help: "Seconds to publish (default 10). With --count: only sets the timeout (duration + 30 s).")
    var duration: Double?

    @Option(help: "Publish this many messages in total, then wait until they are consumed.")
    var count: Int?

    @Option(help: "Fail if the run has not finished after this many seconds (default: duration + 30 s; 300 s with --count).")
    var timeout: Double?

    @Flag(help: "Print one JSON object at the end and nothing else on stdout (live lines go to stderr).")
    var json = false

    @Flag(help: "Leave the queues (and perf-x) in place at the end.")
    var keepQueues = false

    @Flag(help: "With --count: fill the queues first, then start the consumers; the receive rate is the backlog's drain (use --confirm so the fill is complete).")
    var backlog = false

    func makeConfig() throws -> PerfConfig {
        var o = PerfOptions()
        o.uri = uri
        o.host = host
        o.port = port
        o.producers = producers
        o.consumers = consumers
        o.queues = queues
        o.exchangeType = exchangeType
        o.size = size
        o.rate = rate
        o.confirm = confirm
        o.persistent = persistent
        o.autoack = autoack
        o.multiAckEvery = multiAckEvery
        o.prefetch = prefetch
        o.duration = duration
        o.count = count
        o.timeout = timeout
        o.json = json
        o.keepQueues = keepQueues
        o.backlog = backlog
        do {
            return try PerfConfig(validating: o)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func validate() throws {
        _ = try makeConfig()
    }

    func run() async throws {
        let config = try makeConfig()
        do {
            let summary = try await PerfRunner(config: config).run()
            let text = config.json ? summary.json() : summary.text()
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        } catch {
            FileHandle.standardError.write(Data("broker perf: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
