// The validated description of one `broker perf` run, built from the raw command-line
// values in ``PerfOptions``. Every rule that would make a run meaningless or hang (a
// multiple-ack batch larger than the prefetch, a count with no producer) is refused here.

/// A configuration error, shown to the user as one line.
public struct PerfConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The raw option values, as typed (nil: not given).
public struct PerfOptions: Sendable {
    public var uri: String = "amqp://guest:guest@127.0.0.1:5672/"
    public var host: String?
    public var port: Int?
    public var producers = 1
    public var consumers = 1
    public var queues = 1
    public var exchangeType: String?
    public var size = 12
    public var rate: Double = 0
    public var confirm = 0
    public var persistent = false
    public var autoack = false
    public var multiAckEvery: Int?
    public var prefetch = 0
    public var duration: Double?
    public var count: Int?
    public var timeout: Double?
    public var json = false
    public var keepQueues = false
    public var backlog = false

    public init() {}
}

/// One validated run.
public struct PerfConfig: Sendable, Hashable {
    /// How messages reach the queues.
    public enum ExchangeKind: String, Sendable, Hashable {
        /// The default exchange, routing key = queue name.
        case `default`
        /// `perf-x` (direct), queue i bound with its own name.
        case direct
        /// `perf-x` (fanout), every queue bound: each message goes to every queue.
        case fanout
        /// `perf-x` (topic), queue i bound with `perf-q-<i>.*`.
        case topic
    }

    /// How consumers acknowledge.
    public enum AckMode: Sendable, Hashable {
        /// `no-ack` consumers.
        case auto
        /// Manual acks, one `basic.ack` (multiple=true when > 1) every N deliveries.
        case every(Int)
    }

    /// When publishing stops.
    public enum Stop: Sendable, Hashable {
        /// After this many seconds.
        case duration(Double)
        /// After this many messages in total (spread over the producers).
        case count(Int)
    }

    public var uri: AMQPURI
    public var producers: Int
    public var consumers: Int
    public var queues: Int
    public var exchange: ExchangeKind
    public var size: Int
    /// Messages per second per producer; 0 = unlimited.
    public var rate: Double
    /// Maximum unconfirmed publishes per producer; 0 = no confirms.
    public var confirm: Int
    public var persistent: Bool
    public var ackMode: AckMode
    /// `basic.qos` prefetch count per consumer; 0 = none sent.
    public var prefetch: Int
    public var stop: Stop
    /// The run fails if it has not finished after this many seconds.
    public var timeout: Double
    public var json: Bool
    public var keepQueues: Bool
    /// Fill the queues first: consumers start once every message is published (and
    /// confirmed), and the receive rate is that of draining the backlog.
    public var backlog: Bool

    /// The smallest body: 8-byte send timestamp, 2-byte producer id, 2-byte sequence.
    public static let minimumSize = PerfStamp.size
    /// The name of the exchange used with `--exchange-type`.
    public static let exchangeName = "perf-x"

    /// Validates raw options.
    public init(validating o: PerfOptions) throws(PerfConfigError) {
        var uri = try AMQPURI(parsing: o.uri)
        if let host = o.host { uri.host = host }
        if let port = o.port {
            guard (1...65535).contains(port) else { throw PerfConfigError("--port must be 1...65535") }
            uri.port = port
        }
        self.uri = uri
        guard o.producers >= 0, o.producers <= Int(UInt16.max) else {
            throw PerfConfigError("--producers must be 0...\(UInt16.max)")
        }
        guard o.consumers >= 0 else { throw PerfConfigError("--consumers must be at least 0") }
        guard o.producers + o.consumers > 0 else { throw PerfConfigError("need at least one producer or consumer") }
        guard o.queues >= 1 else { throw PerfConfigError("--queues must be at least 1") }
        producers = o.producers
        consumers = o.consumers
        queues = o.queues
        if let type = o.exchangeType {
            guard let kind = ExchangeKind(rawValue: type), kind != .default else {
                throw PerfConfigError("--exchange-type must be direct, fanout or topic (got \"\(type)\")")
            }
            exchange = kind
        } else {
            exchange = .default
        }
        guard o.size >= Self.minimumSize else {
            throw PerfConfigError("--size must be at least \(Self.minimumSize) bytes (the body carries the send timestamp)")
        }
        guard o.size <= 128 * 1024 * 1024 else { throw PerfConfigError("--size must be at most 128 MiB") }
        size = o.size
        guard o.rate >= 0, o.rate.isFinite else { throw PerfConfigError("--rate must be 0 (unlimited) or positive") }
        rate = o.rate
        guard o.confirm >= 0 else { throw PerfConfigError("--confirm must be 0 (off) or positive") }
        confirm = o.confirm
        persistent = o.persistent
        guard (0...Int(UInt16.max)).contains(o.prefetch) else { throw PerfConfigError("--prefetch must be 0...65535") }
        prefetch = o.prefetch
        if let every = o.multiAckEvery {
            guard !o.autoack else { throw PerfConfigError("--autoack and --multi-ack-every exclude each other") }
            guard every >= 1 else { throw PerfConfigError("--multi-ack-every must be at least 1") }
            // The consumer would wait for an ack batch that the prefetch never lets fill.
            guard o.prefetch == 0 || every <= o.prefetch else {
                throw PerfConfigError("--multi-ack-every \(every) is larger than --prefetch \(o.prefetch): consumers would stall")
            }
            ackMode = .every(every)
        } else {
            ackMode = .auto
        }
        if let count = o.count {
            guard count >= 1 else { throw PerfConfigError("--count must be at least 1") }
            guard o.producers >= 1 else { throw PerfConfigError("--count needs at least one producer") }
            stop = .count(count)
        } else {
            let duration = o.duration ?? 10
            guard duration > 0, duration.isFinite else { throw PerfConfigError("--duration must be positive") }
            stop = .duration(duration)
        }
        if let timeout = o.timeout {
            guard timeout > 0 else { throw PerfConfigError("--timeout must be positive") }
            self.timeout = timeout
        } else if case .count = stop {
            timeout = (o.duration ?? 270) + 30
        } else {
            timeout = (o.duration ?? 10) + 30
        }
        if case .count = stop, let duration = o.duration, duration <= 0 {
            throw PerfConfigError("--duration must be positive")
        }
        json = o.json
        keepQueues = o.keepQueues
        if o.backlog {
            guard case .count = stop else { throw PerfConfigError("--backlog needs --count (the messages to fill the queues with)") }
            guard o.consumers >= 1 else { throw PerfConfigError("--backlog needs at least one consumer to drain the queues") }
        }
        backlog = o.backlog
    }

    /// `perf-q-<i>`.
    public static func queueName(_ index: Int) -> String { "perf-q-\(index)" }

    /// The queue producer `p` publishes to (round-robin).
    public func queue(ofProducer p: Int) -> Int { p % queues }

    /// The queue consumer `c` consumes from (round-robin).
    public func queue(ofConsumer c: Int) -> Int { c % queues }

    /// The exchange and routing key producer `p` publishes with.
    public func publishTarget(ofProducer p: Int) -> (exchange: String, routingKey: String) {
        let queue = Self.queueName(self.queue(ofProducer: p))
        switch exchange {
        case .default: return ("", queue)
        case .direct: return (Self.exchangeName, queue)
        case .fanout: return (Self.exchangeName, "")
        case .topic: return (Self.exchangeName, "\(queue).m")
        }
    }

    /// The binding key of queue `q` to `perf-x`, or nil when no exchange is used.
    public func bindingKey(ofQueue q: Int) -> String? {
        switch exchange {
        case .default: return nil
        case .direct: return Self.queueName(q)
        case .fanout: return ""
        case .topic: return "\(Self.queueName(q)).*"
        }
    }

    /// The messages of one producer in count mode (the remainder goes to the first ones).
    public func share(ofProducer p: Int) -> Int? {
        guard case .count(let total) = stop else { return nil }
        return total / producers + (p < total % producers ? 1 : 0)
    }

    /// How many deliveries the consumers should see when producer `p` has sent `sent[p]`
    /// messages: a message counts once per queue it reaches that has a consumer.
    public func expectedDeliveries(sent: [Int]) -> Int {
        var consumed = [Bool](repeating: false, count: queues)
        for c in 0..<consumers { consumed[queue(ofConsumer: c)] = true }
        let total = sent.reduce(0, +)
        if exchange == .fanout {
            return total * consumed.filter { $0 }.count
        }
        var expected = 0
        for (p, n) in sent.enumerated() where consumed[queue(ofProducer: p)] { expected += n }
        return expected
    }
}
