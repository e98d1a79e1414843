// The worker's settings of several hosts (Docs/scale-out.md): its link listener and TLS
// files, and its claim on the partition in etcd with the load it reports there.
import ClusterCoordination
import Foundation
import LinkTransport
import Logging
import SystemFiles
import WorkerServer

/// How a worker's end tells its supervisor what to do.
enum WorkerExit {
    /// It handed its partition to a worker on another host: it is not started again.
    static let handedOver: Int32 = 75
}

struct WorkerHosts: Sendable {
    var listen: LinkEndpoint?
    var tls: LinkTLS?
    var coordination: CoordinationOptions.Resolved
}

extension WorkerCommand {
    /// From the flags, the environment or the file.
    func severalHosts(_ config: BrokerConfig) throws -> WorkerHosts {
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
        return WorkerHosts(listen: listen, tls: try linkTLS.resolve(config), coordination: coordination)
    }

    /// With etcd: claims the partition in the map (refused while another worker's claim is
    /// alive) and keeps the claim alive. A worker whose claim ends stops at once: another may
    /// hold the partition by then, and two must never serve it.
    func claimPartition(_ hosts: WorkerHosts, partitions: Int, handedOver: PartitionOwner?, logger: Logger) async throws -> PartitionClaim? {
        guard let url = hosts.coordination.etcd else { return nil }
        let (keys, etcd) = (ClusterKeys(cluster: hosts.coordination.clusterName), EtcdClient(endpoint: url))
        try await PartitionCount.check(partitions, keys: keys, etcd: etcd)
        let claim = try await PartitionClaim.claim(partition, node: hosts.coordination.node, address: hosts.listen?.description ?? "",
                                                   keys: keys, etcd: etcd, ttl: hosts.coordination.leaseTTL, handedOver: handedOver)
        logger.info("partition claimed in etcd", metadata: [
            "node": "\(claim.owner.node)", "address": "\(claim.owner.address)", "epoch": "\(claim.owner.epoch)",
        ])
        // Not on stdout: its first line is the worker's "ready" (or "error:") for cluster up and join.
        claim.keepAlive(logger: logger) { [partition] in
            ProcessSupport.report("error: worker \(partition): its claim in etcd ended; stopping")
            Foundation.exit(1)
        }
        return claim
    }

    /// `--take-over`: when another node's worker owns the partition, copies its store here
    /// (it drains and streams its files) and returns that owner, whose claim the new one
    /// waits out. Nil when the partition is free or already this node's.
    func takePartitionOver(_ hosts: WorkerHosts, member: ClusterMemberOptions.Resolved, logger: Logger) async throws -> PartitionOwner? {
        guard let url = hosts.coordination.etcd, let tls = hosts.tls else {
            throw BrokerConfig.Invalid(description: "--take-over needs --etcd and the --link-* files")
        }
        let root = member.dataDirectory
        let (keys, etcd) = (ClusterKeys(cluster: hosts.coordination.clusterName), EtcdClient(endpoint: url))
        guard let owner = try await PartitionMap.read(keys: keys, etcd: etcd).owners[partition],
              owner.node != hosts.coordination.node else { return nil }
        guard case .remote(let endpoint) = PartitionMap.reach(owner, from: hosts.coordination.node) else {
            throw BrokerConfig.Invalid(description: "partition \(partition)'s owner on node '\(owner.node)' has no link address to take it from")
        }
        try DataDirectory.claim(root, partitions: member.partitions)
        logger.info("taking the partition over", metadata: ["from": "\(owner.node)", "address": "\(owner.address)", "epoch": "\(owner.epoch)"])
        let taken = try await PartitionHandover.take(from: endpoint, epoch: owner.epoch, tls: tls,
                                                     into: DataDirectory.partitionPath(root, partition: partition), logger: logger)
        logger.info("partition taken over", metadata: ["files": "\(taken.files)", "bytes": "\(taken.bytes)"])
        return owner
    }

    /// After a handover: this host's copy of the store is stale from now on. It is kept aside
    /// (`partition-<P>.moved-<epoch>`), never recovered by a later start here; then the claim
    /// is given up and the process ends with the status that tells its supervisor not to
    /// start it again.
    func letGo(_ claim: PartitionClaim?, dataDirectory root: String, logger: Logger) async -> Never {
        let path = DataDirectory.partitionPath(root, partition: partition)
        let aside = "\(path).moved-\(claim?.owner.epoch ?? 0)"
        Files.removeTree(aside)
        if rename(path, aside) != 0 { logger.error("cannot set the handed-over store aside", metadata: ["path": "\(path)"]) }
        await claim?.release()
        logger.info("partition handed over to a worker on another host; stopping for good")
        Foundation.exit(WorkerExit.handedOver)
    }

    /// Every 5 s, the partition's load into etcd, for `broker cluster partitions`.
    func reportLoad(of server: WorkerServer, in claim: PartitionClaim, logger: Logger) -> Task<Void, Never> {
        Task {
            var last: (enqueued: UInt64, delivered: UInt64, at: ContinuousClock.Instant)?
            while !Task.isCancelled {
                if let load = await server.load() {
                    let now = ContinuousClock.now
                    var rates = (enqueued: 0.0, delivered: 0.0)
                    if let last {
                        let seconds = (now - last.at) / .seconds(1)
                        rates = (Double(load.enqueued &- last.enqueued) / seconds, Double(load.delivered &- last.delivered) / seconds)
                    }
                    last = (load.enqueued, load.delivered, now)
                    do {
                        try await claim.report(PartitionLoad(queues: load.queues, messages: load.messages, consumers: load.consumers,
                                                             enqueuedPerSecond: rates.enqueued, deliveredPerSecond: rates.delivered))
                    } catch {
                        logger.debug("etcd: cannot report the partition's load", metadata: ["error": "\(error)"])
                    }
                }
                try? await Task.sleep(for: .seconds(5))
            }
        }
    }
}
