import ArgumentParser
import BrokerModel
import ClusterCoordination
import Foundation
import LinkTransport
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
            let claim = try await claimPartition(hosts, logger: logger)
            configuration.claimEpoch = claim?.owner.epoch
            let server = WorkerServer(configuration: configuration, logger: logger)
            let channels: [Channel]
            do {
                channels = try await server.start()
            } catch {
                await claim?.release()
                throw error
            }
            let reporting = claim.map { reportLoad(of: server, in: $0, keys: ClusterKeys(cluster: hosts.coordination.clusterName), logger: logger) }
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

    /// The settings of several hosts: the link listener, its TLS files and etcd.
    private func severalHosts(_ config: BrokerConfig) throws -> (listen: LinkEndpoint?, tls: LinkTLS?, coordination: CoordinationOptions.Resolved) {
        var listen: LinkEndpoint?
        if let text = try config.text(.linkListen, flag: linkListen) {
            guard let endpoint = LinkEndpoint(parsing: text), endpoint.isTCP else {
                throw BrokerConfig.Invalid(description: "link_listen (--link-listen) wants HOST:PORT, not '\(text)'")
            }
            listen = endpoint
        }
        let coordination = try self.coordination.resolve(config)
        // The map tells routers of other hosts where to link: a wildcard address reaches none.
        if coordination.etcd != nil, case .tcp(let host, _)? = listen, ["0.0.0.0", "::"].contains(host) {
            throw BrokerConfig.Invalid(description: "with etcd, link_listen (--link-listen) must be an address of this host that other hosts reach, not \(host)")
        }
        return (listen, try linkTLS.resolve(config), coordination)
    }

    /// With etcd: claims the partition in the map (refused while another worker's claim is
    /// alive) and keeps the claim alive. A worker whose claim ends stops at once: another may
    /// hold the partition by then, and two must never serve it.
    private func claimPartition(_ hosts: (listen: LinkEndpoint?, tls: LinkTLS?, coordination: CoordinationOptions.Resolved),
                                logger: Logger) async throws -> PartitionClaim? {
        guard let url = hosts.coordination.etcd else { return nil }
        let etcd = EtcdClient(endpoint: url)
        let claim = try await PartitionClaim.claim(partition, node: hosts.coordination.node, address: hosts.listen?.description ?? "",
                                                   keys: ClusterKeys(cluster: hosts.coordination.clusterName), etcd: etcd,
                                                   ttl: hosts.coordination.leaseTTL)
        logger.info("partition claimed in etcd", metadata: [
            "node": "\(claim.owner.node)", "address": "\(claim.owner.address)", "epoch": "\(claim.owner.epoch)",
        ])
        ProcessSupport.report("claimed partition \(partition) epoch \(claim.owner.epoch)")
        claim.keepAlive(logger: logger) { [partition] in
            ProcessSupport.report("error: worker \(partition): its claim in etcd ended; stopping")
            Foundation.exit(1)
        }
        return claim
    }

    /// Every 5 s, the partition's load into the map, for `broker cluster partitions`.
    private func reportLoad(of server: WorkerServer, in claim: PartitionClaim, keys: ClusterKeys, logger: Logger) -> Task<Void, Never> {
        Task {
            var last: (enqueued: UInt64, delivered: UInt64, at: ContinuousClock.Instant)?
            while !Task.isCancelled {
                if let load = await server.load() {
                    let now = ContinuousClock.now
                    var rates = (0.0, 0.0)
                    if let last {
                        let seconds = max(Double((now - last.at).components.seconds), 1)
                        rates = (Double(load.enqueued &- last.enqueued) / seconds, Double(load.delivered &- last.delivered) / seconds)
                    }
                    last = (load.enqueued, load.delivered, now)
                    let report = PartitionLoad(queues: load.queues, messages: load.messages, consumers: load.consumers,
                                               enqueuedPerSecond: rates.0, deliveredPerSecond: rates.1)
                    do {
                        try await claim.report(report, keys: keys)
                    } catch {
                        logger.debug("etcd: cannot report the partition's load", metadata: ["error": "\(error)"])
                    }
                }
                try? await Task.sleep(for: .seconds(5))
            }
        }
    }
}
