import ArgumentParser
import BrokerModel
import Foundation
import Logging
import NIOCore
import WorkerServer

struct WorkerOptions: ParsableArguments {
    @Option(help: "Milliseconds a delivery may stay unacknowledged before its channel is closed (RabbitMQ's consumer_timeout); a queue's x-consumer-timeout overrides it. Default: 1800000.")
    var consumerTimeout: Int?

    /// The consumer timeout from the flag, the environment or the file.
    func consumerTimeout(_ config: BrokerConfig) throws -> UInt64 {
        UInt64(try config.integer(.consumerTimeout, flag: consumerTimeout) ?? 1_800_000)
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker process: the sole owner of one hash partition of the queues.")

    @Option(help: "This worker's partition index, 0 ..< partitions.")
    var partition: Int

    @Option(help: "HOST:PORT to take routers of other hosts on (TCP, mutual TLS with the --link-* files), besides the Unix socket.")
    var linkListen: String?

    @Flag(help: "Take the partition over from its owner on another host first: its store is copied here and the owner lets go (broker cluster move-partition; needs --etcd). Without an owner elsewhere, start as usual.")
    var takeOver = false

    @OptionGroup var linkTLS: LinkTLSOptions
    @OptionGroup var coordination: CoordinationOptions
    @OptionGroup var member: ClusterMemberOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var file: ConfigFileOption

    func run() async throws {
        let (member, consumerTimeout, level, hosts) = try await file.settings(of: "worker \(partition)") { config in
            let member = try self.member.resolve(config)
            guard (0..<member.partitions).contains(partition) else {
                throw BrokerConfig.Invalid(description: "--partition must be in 0..<\(member.partitions)")
            }
            return (member, try worker.consumerTimeout(config), try logging.level(config), try severalHosts(config))
        }
        let logger = logging.bootstrap(label: "broker.worker.\(partition)", level: level)
        ProcessSupport.exitWithParent(self.member.parentPid)
        do {
            try ProcessSupport.prepareRuntimeDirectory(member.runtimeDir)
            let termination = ProcessSupport.catchTermination()
            let (file, logging) = (self.file, self.logging)
            ProcessSupport.onReload { await Reload.apply(file: file, logging: logging, logger: logger) { _ in [:] } }
            var configuration = WorkerConfiguration(
                partition: PartitionID(partition), partitions: member.partitions,
                socketPath: "\(member.runtimeDir)/worker-\(partition).sock", consumerTimeout: consumerTimeout,
                dataDirectory: member.dataDirectory)
            configuration.linkListen = hosts.listen
            configuration.linkTLS = hosts.tls
            // Claimed first, so that a second worker of the partition is refused before it
            // touches the first one's socket or store.
            let previous = takeOver ? try await takePartitionOver(hosts, member: member, logger: logger) : nil
            try refuseHandedOverStore(member.dataDirectory)
            let claim = try await claimPartition(hosts, partitions: member.partitions, handedOver: previous, logger: logger)
            configuration.claimEpoch = claim?.owner.epoch
            let server = WorkerServer(configuration: configuration, logger: logger)
            server.onHandoverEnded { done in
                guard done else {
                    // Drained, so it serves no more; its supervisor starts it again on its own
                    // store, which it never gave away.
                    logger.error("stopping after the failed handover, to be started again")
                    Foundation.exit(1)
                }
                Task { await letGo(claim, logger: logger) }
            }
            let channels: [Channel]
            do {
                channels = try await server.start()
            } catch {
                await claim?.release()
                throw error
            }
            let reporting = claim.map { reportLoad(of: server, in: $0, logger: logger) }
            ProcessSupport.report("ready worker \(partition)")
            ProcessSupport.notifySystemd("READY=1\nSTATUS=serving partition \(partition)")
            ProcessSupport.startWatchdog { await server.liveness() }
            await termination.wait()
            ProcessSupport.notifySystemd("STOPPING=1")
            logger.info("worker stopping")
            reporting?.cancel()
            for channel in channels { try? await channel.close() }
            try? await server.shutdown()
            await claim?.release()  // only now: until the drain is done, the partition is ours
        } catch {
            ProcessSupport.report("error: worker \(partition): \(error)")
            logger.error("worker cannot serve", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
