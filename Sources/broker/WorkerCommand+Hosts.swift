// The worker's settings of several hosts (Docs/scale-out.md): its link listener and TLS
// files, and its claim on the partition in etcd with the load it reports there.
import ClusterCoordination
import Foundation
import LinkTransport
import Logging
import SystemFiles
import WorkerServer

/// How a worker's end tells its supervisor not to start it again.
enum WorkerExit {
    /// It handed its partition to a worker on another host.
    static let handedOver: Int32 = 75
    /// It could not take its partition over (`--take-over`): the owner keeps it.
    static let takeOverFailed: Int32 = 76

    /// What an exit status says, when it is one of these.
    static func final(_ status: Int32) -> String? {
        switch status {
        case handedOver: "handed its partition over to another host"
        case takeOverFailed: "could not take its partition over"
        default: nil
        }
    }
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
    /// waits out. Nil when the partition is this node's, or free with a store of it here
    /// (this worker restarted after its take). A take that fails ends the process with
    /// `WorkerExit.takeOverFailed`: the owner keeps the partition.
    func takePartitionOver(_ hosts: WorkerHosts, member: ClusterMemberOptions.Resolved, logger: Logger) async throws -> PartitionOwner? {
        let directory = DataDirectory.partitionPath(member.dataDirectory, partition: partition)
        do {
            guard let url = hosts.coordination.etcd, let tls = hosts.tls else {
                throw BrokerConfig.Invalid(description: "--take-over needs --etcd and the --link-* files")
            }
            let (keys, etcd) = (ClusterKeys(cluster: hosts.coordination.clusterName), EtcdClient(endpoint: url))
            guard let owner = try await PartitionMap.read(keys: keys, etcd: etcd).owners[partition] else {
                // Never an empty store in place of the real one, which is elsewhere.
                guard Files.exists(directory) else {
                    throw BrokerConfig.Invalid(description: "partition \(partition) has no owner to take it from, and no store here")
                }
                return nil
            }
            guard owner.node != hosts.coordination.node else { return nil }
            guard case .remote(let endpoint) = PartitionMap.reach(owner, from: hosts.coordination.node) else {
                throw BrokerConfig.Invalid(description: "partition \(partition)'s owner on node '\(owner.node)' has no link address to take it from")
            }
            try DataDirectory.claim(member.dataDirectory, partitions: member.partitions)
            logger.info("taking the partition over", metadata: ["from": "\(owner.node)", "address": "\(owner.address)", "epoch": "\(owner.epoch)"])
            let taken = try await PartitionHandover.take(from: endpoint, epoch: owner.epoch, tls: tls, into: directory, logger: logger)
            logger.info("partition taken over", metadata: ["files": "\(taken.files)", "bytes": "\(taken.bytes)"])
            return owner
        } catch {
            ProcessSupport.report("error: worker \(partition): cannot take the partition over: \(error)")
            logger.error("cannot take the partition over", metadata: ["error": "\(error)"])
            Files.removeTree(PartitionArchive.Unpacker.incoming(directory))  // the part copied
            Foundation.exit(WorkerExit.takeOverFailed)
        }
    }

    /// A store this data directory handed to another host is never served again from here,
    /// nor replaced by an empty one: the partition lives elsewhere (or comes back by a move).
    func refuseHandedOverStore(_ root: String) throws {
        guard !Files.exists(DataDirectory.partitionPath(root, partition: partition)),
              let aside = Files.list(root).first(where: { DataDirectory.moved($0)?.partition == partition }) else { return }
        throw BrokerConfig.Invalid(description: "partition \(partition) was handed over to another host from \(root) (\(aside) is the copy it had): it comes back here only by `broker cluster move-partition \(partition) --to` this node")
    }

    /// After a handover (the copy here is already set aside): gives the claim up and ends the
    /// process with the status that tells its supervisor not to start it again.
    func letGo(_ claim: PartitionClaim?, logger: Logger) async -> Never {
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
