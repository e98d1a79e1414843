import ArgumentParser
import BrokerModel
import Foundation
import WorkerServer

struct WorkerOptions: ParsableArguments {
    @Option(help: "Milliseconds a delivery may stay unacknowledged before its channel is closed (RabbitMQ's consumer_timeout); a queue's x-consumer-timeout overrides it.")
    var consumerTimeout: UInt64 = 1_800_000

    var arguments: [String] { ["--consumer-timeout", "\(consumerTimeout)"] }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker process: the sole owner of one hash partition of the queues.")

    @Option(help: "This worker's partition index, 0 ..< partitions.")
    var partition: Int

    @OptionGroup var member: ClusterMemberOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var logging: LoggingOptions

    var partitions: Int { member.partitions }
    var runtimeDir: String { member.runtimeDir }

    func validate() throws {
        guard (0..<partitions).contains(partition) else {
            throw ValidationError("--partition must be in 0..<\(partitions)")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "broker.worker.\(partition)")
        ProcessSupport.exitWithParent(member.parentPid)
        do {
            try ProcessSupport.prepareRuntimeDirectory(runtimeDir)
            let termination = ProcessSupport.catchTermination()
            let server = WorkerServer(configuration: WorkerConfiguration(
                partition: PartitionID(partition), partitions: partitions,
                socketPath: "\(runtimeDir)/worker-\(partition).sock", consumerTimeout: worker.consumerTimeout,
                dataDirectory: member.dataDirectory),
                logger: logger)
            let channel = try await server.start()
            ProcessSupport.report("ready worker \(partition)")
            ProcessSupport.notifySystemd("READY=1\nSTATUS=serving partition \(partition)")
            ProcessSupport.startWatchdog { await server.liveness() }
            await termination.wait()
            ProcessSupport.notifySystemd("STOPPING=1")
            logger.info("worker stopping")
            try? await channel.close()
            try? await server.shutdown()
        } catch {
            ProcessSupport.report("error: worker \(partition): \(error)")
            throw ExitCode.failure
        }
    }
}
