// The partition map in etcd: which worker serves each partition. A worker claims its
// partition under a lease it keeps alive; the claim carries an epoch, one more than the last
// claim's, so a worker that lost its lease (and stopped) is told from the one after it.
// Routers read the map and follow it with a watch.
//
// Keys, under /broker/<cluster>/partitions/<P>/:
//   owner  {"node", "address", "epoch"} with the owner's lease: gone when the owner dies
//   epoch  the last epoch given out, no lease: it survives its owners
import Foundation
import Logging
import NIOCore

public struct PartitionOwner: Codable, Sendable, Equatable {
    /// The host the worker runs on (`--node-name`).
    public var node: String
    /// Where routers of other hosts reach it (its `--link-listen`); empty if only its own
    /// host's router may (no TCP listener).
    public var address: String
    public var epoch: Int64

    public init(node: String, address: String, epoch: Int64) {
        self.node = node
        self.address = address
        self.epoch = epoch
    }
}

public struct ClusterKeys: Sendable {
    public let cluster: String

    public init(cluster: String) {
        self.cluster = cluster
    }

    public var partitions: String { "/broker/\(cluster)/partitions/" }
    public func owner(_ partition: Int) -> String { "\(partitions)\(partition)/owner" }
    public func epoch(_ partition: Int) -> String { "\(partitions)\(partition)/epoch" }

    /// The partition an owner key names, or nil for any other key.
    public func partition(ofOwnerKey key: String) -> Int? {
        guard key.hasPrefix(partitions), key.hasSuffix("/owner") else { return nil }
        return Int(key.dropFirst(partitions.count).dropLast("/owner".count))
    }
}

/// A worker's claim on its partition, alive while its lease is.
public final class PartitionClaim: Sendable {
    public let partition: Int
    public let owner: PartitionOwner
    let lease: Int64
    let ttl: Int
    let etcd: EtcdClient

    init(partition: Int, owner: PartitionOwner, lease: Int64, ttl: Int, etcd: EtcdClient) {
        self.partition = partition
        self.owner = owner
        self.lease = lease
        self.ttl = ttl
        self.etcd = etcd
    }

    /// Claims `partition` for `node` at `address`; fails, saying who has it, while another
    /// worker's claim is alive.
    public static func claim(_ partition: Int, node: String, address: String, keys: ClusterKeys, etcd: EtcdClient,
                             ttl: Int) async throws -> PartitionClaim {
        let lease = try await etcd.grantLease(ttl: ttl)
        for _ in 0..<10 {
            if let current = try await etcd.range(keys.owner(partition)).kvs.first {
                let holder = try? JSONDecoder().decode(PartitionOwner.self, from: Data(current.value))
                try? await etcd.revoke(lease)
                throw EtcdError("partition \(partition) is served by node '\(holder?.node ?? "?")' at '\(holder?.address ?? "?")' (epoch \(holder?.epoch ?? 0)); it is free once that worker stops and its lease ends")
            }
            let last = try await etcd.range(keys.epoch(partition)).kvs.first
            let epoch = (last.flatMap { Int64(String(decoding: $0.value, as: UTF8.self)) } ?? 0) + 1
            let owner = PartitionOwner(node: node, address: address, epoch: epoch)
            let claimed = try await etcd.putIf(
                unchanged: [(keys.owner(partition), 0), (keys.epoch(partition), last?.modRevision ?? 0)],
                puts: [(keys.epoch(partition), Array(String(epoch).utf8), 0),
                       (keys.owner(partition), Array(try JSONEncoder().encode(owner)), lease)])
            if claimed { return PartitionClaim(partition: partition, owner: owner, lease: lease, ttl: ttl, etcd: etcd) }
            // Another claim got in between: look again.
        }
        try? await etcd.revoke(lease)
        throw EtcdError("partition \(partition): could not claim it in etcd (ten tries raced with others)")
    }

    /// Keeps the lease alive, three times a TTL; calls `lost` once it has ended, or could not
    /// be renewed for a whole TTL (the claim may be someone else's by then).
    public func keepAlive(logger: Logger, lost: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        Task {
            var lastRenewed = ContinuousClock.now
            let period = Duration.milliseconds(max(200, ttl * 1000 / 3))
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                if Task.isCancelled { return }
                do {
                    if try await etcd.keepAlive(lease, timeout: .seconds(Int64(ttl))) {
                        lastRenewed = .now
                        continue
                    }
                    logger.error("etcd: the partition's lease has ended", metadata: ["partition": "\(partition)"])
                } catch {
                    guard ContinuousClock.now - lastRenewed >= .seconds(ttl) else {
                        logger.warning("etcd: cannot renew the partition's lease; retrying", metadata: ["error": "\(error)"])
                        continue
                    }
                    logger.error("etcd: the partition's lease could not be renewed for its whole TTL", metadata: ["error": "\(error)"])
                }
                lost()
                return
            }
        }
    }

    /// Gives the partition up at once (a clean stop), instead of after the TTL.
    public func release() async {
        try? await etcd.revoke(lease)
    }
}

/// The routers' view of the map.
public enum PartitionMap {
    /// The owners of the partitions present, with the store's revision.
    public static func read(keys: ClusterKeys, etcd: EtcdClient) async throws -> (owners: [Int: PartitionOwner], revision: Int64) {
        let (kvs, revision) = try await etcd.range(keys.partitions, prefix: true)
        var owners: [Int: PartitionOwner] = [:]
        for kv in kvs {
            guard let partition = keys.partition(ofOwnerKey: kv.key),
                  let owner = try? JSONDecoder().decode(PartitionOwner.self, from: Data(kv.value)) else { continue }
            owners[partition] = owner
        }
        return (owners, revision)
    }

    /// Follows the map from `revision`: `changed` gets each partition's new owner (nil when
    /// its claim ended). After a failed watch it reads the map again and reports every owner.
    public static func follow(keys: ClusterKeys, etcd: EtcdClient, from revision: Int64, logger: Logger,
                              changed: @escaping @Sendable (Int, PartitionOwner?) -> Void) -> Task<Void, Never> {
        Task {
            var revision = revision
            while !Task.isCancelled {
                do {
                    for try await events in etcd.watch(prefix: keys.partitions, after: revision) {
                        for event in events {
                            switch event {
                            case .put(let kv):
                                revision = max(revision, kv.modRevision)
                                guard let partition = keys.partition(ofOwnerKey: kv.key),
                                      let owner = try? JSONDecoder().decode(PartitionOwner.self, from: Data(kv.value)) else { continue }
                                changed(partition, owner)
                            case .delete(let key):
                                if let partition = keys.partition(ofOwnerKey: key) { changed(partition, nil) }
                            }
                        }
                    }
                } catch {
                    logger.warning("etcd: the partition map's watch failed; reading the map again", metadata: ["error": "\(error)"])
                }
                if Task.isCancelled { return }
                try? await Task.sleep(for: .milliseconds(500))
                if let (owners, now) = try? await read(keys: keys, etcd: etcd) {
                    revision = now
                    for (partition, owner) in owners { changed(partition, owner) }
                }
            }
        }
    }
}
