import ArgumentParser
import BrokerModel
import Foundation
import WorkerServer

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker process: the sole owner of one hash partition of the queues.")

    @Option(help: "This worker's partition index, 0 ..< partitions.")
    var partition: Int

    @Option(help: "The number of partitions (workers) in the cluster; the same for every process.")
    var partitions: Int

    @Option(help: "Private directory (0700) for the workers' Unix sockets: worker-<partition>.sock.")
    var runtimeDir: String

    @Option(help: "Exit when the process with this pid is no longer our parent (used by `cluster up`).")
    var parentPid: Int32?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
        guard (0..<partitions).contains(partition) else {
            throw ValidationError("--partition must be in 0..<\(partitions)")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "broker.worker.\(partition)")
        ProcessSupport.exitWithParent(parentPid)
        do {
            try ProcessSupport.prepareRuntimeDirectory(runtimeDir)
            let server = WorkerServer(configuration: WorkerConfiguration(
                partition: PartitionID(partition), partitions: partitions,
                socketPath: "\(runtimeDir)/worker-\(partition).sock"), logger: logger)
            let channel = try await server.start()
            ProcessSupport.report("ready worker \(partition)")
            await ProcessSupport.waitForTermination()
            logger.info("worker stopping")
            try? await channel.close()
            try? await server.shutdown()
        } catch {
            ProcessSupport.report("error: worker \(partition): \(error)")
            throw ExitCode.failure
        }
    }
}
