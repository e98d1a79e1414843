// The router's settings of several hosts (Docs/scale-out.md): partitions on other hosts given
// by hand, the link's TLS files, and the partition map in etcd.
import ClusterCoordination
import Foundation
import LinkTransport
import Logging

struct RouterHosts: Sendable {
    var remoteWorkers: [Int: LinkEndpoint]
    var tls: LinkTLS?
    var coordination: CoordinationOptions.Resolved
}

extension RouterCommand {
    /// From the flags, the environment or the file.
    func severalHosts(_ config: BrokerConfig, partitions: Int) throws -> RouterHosts {
        var workers: [Int: LinkEndpoint] = [:]
        for text in try config.texts(.workerLinks, flag: workerLink) {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let index = Int(parts[0]), (0..<partitions).contains(index),
                  let endpoint = LinkEndpoint(parsing: parts[1]), endpoint.isTCP else {
                throw BrokerConfig.Invalid(description: "--worker-link wants P=HOST:PORT with P in 0..<\(partitions), not '\(text)'")
            }
            workers[index] = endpoint
        }
        return RouterHosts(remoteWorkers: workers, tls: try linkTLS.resolve(config), coordination: try coordination.resolve(config))
    }

    /// With etcd: the partition map, once every partition has an owner (up to 10 s), where
    /// the partitions of other hosts are, and which have no owner yet.
    func readPartitionMap(_ hosts: RouterHosts, partitions: Int, logger: Logger) async throws
        -> (etcd: EtcdClient, keys: ClusterKeys, revision: Int64, remote: [Int: LinkEndpoint], epochs: [Int: Int64], ownerless: Set<Int>)? {
        guard let url = hosts.coordination.etcd else { return nil }
        let etcd = EtcdClient(endpoint: url)
        let keys = ClusterKeys(cluster: hosts.coordination.clusterName)
        try await PartitionCount.check(partitions, keys: keys, etcd: etcd)
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let (owners, revision) = try await PartitionMap.read(keys: keys, etcd: etcd)
            let missing = (0..<partitions).filter { owners[$0] == nil }
            if missing.isEmpty || ContinuousClock.now >= deadline {
                if !missing.isEmpty { logger.warning("etcd: partitions without a worker yet; their links wait for one", metadata: ["partitions": "\(missing)"]) }
                var remote: [Int: LinkEndpoint] = [:]
                for (partition, owner) in owners where partition < partitions {
                    if case .remote(let endpoint) = PartitionMap.reach(owner, from: hosts.coordination.node) { remote[partition] = endpoint }
                }
                logger.info("etcd: partition map read", metadata: ["owners": "\(owners.count)", "remote": "\(remote.count)"])
                return (etcd, keys, revision, remote, owners.mapValues(\.epoch), Set(missing))
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

extension RouterCommand {
    /// Registers this router in etcd (RouterMembership), before it takes clients.
    func joinRouters(etcd: EtcdClient, keys: ClusterKeys, serial: UInt64, coordination: CoordinationOptions.Resolved,
                     logger: Logger) async throws -> RouterMembership {
        let member = RouterMember(node: coordination.node, address: "\(router.host):\(router.port)", pid: getpid(), serial: serial)
        let membership = try await RouterMembership.join(member, keys: keys, etcd: etcd, ttl: coordination.leaseTTL)
        logger.info("etcd: this router is registered", metadata: ["serial": "\(serial)", "otherRouters": "\(membership.others.count)"])
        return membership
    }
}
