// The partition map in etcd: which worker serves each partition. A worker claims its
// partition under a lease it keeps alive; the claim carries an epoch, one more than the last
// claim's, so a worker that lost its lease (and stopped) is told from the one after it.
// Routers read the map and follow it with a watch.
//
// Keys, under /broker/<cluster>/:
//   partitions/<P>/owner  {"node", "address", "epoch"} with the owner's lease: gone when the owner dies
//   partitions/<P>/epoch  the last epoch given out, no lease: it survives its owners
//   load/<P>              what the owner last reported, with its lease; apart, so that the
//                         routers' watch on partitions/ is not woken by it every few seconds
//   topology              the routers' shared topology (RouterServer's SharedTopology), no lease
//   router-serial         the last number a starting router took (RouterSerial), no lease
//   routers/<serial>      {"node", "address", "pid", "serial"} of a router alive, with its lease
//                         (RouterMembership)
//   partition-count       the cluster's partition count, written by the first host to join, no lease
import Foundation
import Logging
import LinkTransport
import NIOConcurrencyHelpers

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

/// What a partition holds and does, as its worker last reported it (every few seconds).
public struct PartitionLoad: Codable, Sendable, Equatable {
    public var queues: Int
    public var messages: Int
    public var consumers: Int
    /// Messages a second put into queues, and handed to clients, since the last report.
    public var enqueuedPerSecond: Double
    public var deliveredPerSecond: Double

    public init(queues: Int, messages: Int, consumers: Int, enqueuedPerSecond: Double, deliveredPerSecond: Double) {
        self.queues = queues
        self.messages = messages
        self.consumers = consumers
        self.enqueuedPerSecond = enqueuedPerSecond
        self.deliveredPerSecond = deliveredPerSecond
    }
}

public struct ClusterKeys: Sendable {
    public let cluster: String

    public init(cluster: String) {
        self.cluster = cluster
    }

    public var partitions: String { "/broker/\(cluster)/partitions/" }
    public var loads: String { "/broker/\(cluster)/load/" }
    /// The topology the routers share: exchanges, queues, bindings, users, vhosts, permissions.
    public var topology: String { "/broker/\(cluster)/topology" }
    /// The cluster's partition count, written by the first host that joins.
    public var partitionCount: String { "/broker/\(cluster)/partition-count" }
    /// The last serial number a starting router took.
    public var routerSerial: String { "/broker/\(cluster)/router-serial" }
    /// `routers/<serial>`: a router alive, under its lease.
    public var routers: String { "/broker/\(cluster)/routers/" }
    public func router(_ serial: UInt64) -> String { "\(routers)\(serial)" }
    /// `moves/<P>`: the node partition P is being moved to (`broker cluster move-partition`).
    public var moves: String { "/broker/\(cluster)/moves/" }
    public func move(_ partition: Int) -> String { "\(moves)\(partition)" }
    public func owner(_ partition: Int) -> String { "\(partitions)\(partition)/owner" }
    public func epoch(_ partition: Int) -> String { "\(partitions)\(partition)/epoch" }
    public func load(_ partition: Int) -> String { "\(loads)\(partition)" }

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
    /// When the lease was asked for: etcd may end it a TTL after, unless renewed.
    let granted: ContinuousClock.Instant
    let keys: ClusterKeys
    let etcd: EtcdClient
    private let renewal = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(partition: Int, owner: PartitionOwner, lease: Int64, ttl: Int, granted: ContinuousClock.Instant, keys: ClusterKeys, etcd: EtcdClient) {
        self.partition = partition
        self.owner = owner
        self.lease = lease
        self.ttl = ttl
        self.granted = granted
        self.keys = keys
        self.etcd = etcd
    }

    /// Claims `partition` for `node` at `address`; fails, saying who has it, while another
    /// worker's claim is alive. A claim of this node at this address (this worker's previous
    /// run, killed), or `handedOver` (the owner that just handed the partition to this
    /// worker), is waited out, up to its TTL and two seconds.
    public static func claim(_ partition: Int, node: String, address: String, keys: ClusterKeys, etcd: EtcdClient,
                             ttl: Int, handedOver: PartitionOwner? = nil) async throws -> PartitionClaim {
        let patience = ContinuousClock.now + .seconds(ttl + 2)
        var races = 0
        // Granted once the partition is free: a lease granted before waiting out an old claim
        // would end, unrenewed, while the worker waits.
        var granted: (lease: Int64, at: ContinuousClock.Instant)?
        while true {
            if let current = try await etcd.range(keys.owner(partition)).kvs.first {
                let holder = try? JSONDecoder().decode(PartitionOwner.self, from: Data(current.value))
                let ours = holder?.node == node && holder?.address == address
                if ours || (holder != nil && holder == handedOver), ContinuousClock.now < patience {
                    try await Task.sleep(for: .milliseconds(250))
                    continue
                }
                if let granted { try? await etcd.revoke(granted.lease) }
                throw EtcdError("partition \(partition) is served by node '\(holder?.node ?? "?")' at '\(holder?.address ?? "?")' (epoch \(holder?.epoch ?? 0)); it is free once that worker stops and its lease ends")
            }
            if granted == nil {
                let asked = ContinuousClock.now
                granted = (try await etcd.grantLease(ttl: ttl), asked)
            }
            let lease = granted!.lease
            let last = try await etcd.range(keys.epoch(partition)).kvs.first
            let epoch = (last?.integer ?? 0) + 1
            let owner = PartitionOwner(node: node, address: address, epoch: epoch)
            let claimed = try await etcd.putIf(
                unchanged: [(keys.owner(partition), 0), (keys.epoch(partition), last?.modRevision ?? 0)],
                puts: [(keys.epoch(partition), Array(String(epoch).utf8), 0),
                       (keys.owner(partition), Array(try JSONEncoder().encode(owner)), lease)])
            if claimed != nil {
                return PartitionClaim(partition: partition, owner: owner, lease: lease, ttl: ttl, granted: granted!.at, keys: keys, etcd: etcd)
            }
            races += 1  // another claim got in between: look again
            if races >= 10 {
                try? await etcd.revoke(lease)
                throw EtcdError("partition \(partition): could not claim it in etcd (ten tries raced with others)")
            }
        }
    }

    /// Keeps the lease alive (LeaseRenewal); `lost` is called if it cannot be kept.
    public func keepAlive(logger: Logger, lost: @escaping @Sendable () -> Void) {
        let partition = self.partition
        let task = LeaseRenewal.start(lease, ttl: ttl, granted: granted, etcd: etcd, what: "partition \(partition) claim",
                                      logger: logger) {
            logger.error("etcd: the partition's claim could not be kept", metadata: ["partition": "\(partition)"])
            lost()
        }
        renewal.withLockedValue { $0 = task }
    }

    /// Publishes the partition's load under the claim's lease (gone with the claim).
    public func report(_ load: PartitionLoad) async throws {
        try await etcd.put(keys.load(partition), Array(try JSONEncoder().encode(load)), lease: lease)
    }

    /// Stops renewing and gives the partition up at once (a clean stop, after the worker has
    /// drained), instead of after the TTL.
    public func release() async {
        renewal.withLockedValue { $0?.cancel() }
        try? await etcd.revoke(lease)
    }
}

/// The routers' view of the map.
public enum PartitionMap {
    /// The partition's owner once it serves: a worker claims before it recovers its store,
    /// and reports its load first once it is ready, so a load written after the claim says it
    /// serves. Nil while none does.
    public static func servingOwner(_ partition: Int, keys: ClusterKeys, etcd: EtcdClient) async throws -> PartitionOwner? {
        guard let claim = try await etcd.range(keys.owner(partition)).kvs.first,
              let load = try await etcd.range(keys.load(partition)).kvs.first, load.modRevision > claim.modRevision else { return nil }
        return try JSONDecoder().decode(PartitionOwner.self, from: Data(claim.value))
    }

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

    /// The loads the owners last reported.
    public static func loads(keys: ClusterKeys, etcd: EtcdClient) async throws -> [Int: PartitionLoad] {
        var loads: [Int: PartitionLoad] = [:]
        for kv in try await etcd.range(keys.loads, prefix: true).kvs {
            guard let partition = Int(kv.key.dropFirst(keys.loads.count)),
                  let load = try? JSONDecoder().decode(PartitionLoad.self, from: Data(kv.value)) else { continue }
            loads[partition] = load
        }
        return loads
    }

    /// How a router on `node` reaches the worker `owner` names.
    public enum Reach: Equatable {
        /// It is the router's own host's: on its Unix socket.
        case local
        case remote(LinkEndpoint)
        /// On another host without a TCP address: no router elsewhere can reach it.
        case unreachable
    }

    public static func reach(_ owner: PartitionOwner, from node: String) -> Reach {
        if owner.node == node { return .local }
        guard let endpoint = LinkEndpoint(parsing: owner.address), endpoint.isTCP else { return .unreachable }
        return .remote(endpoint)
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
                if Task.isCancelled { return }
                if let (owners, now) = try? await read(keys: keys, etcd: etcd) {
                    revision = now
                    for (partition, owner) in owners { changed(partition, owner) }
                }
            }
        }
    }
}

/// A number no other start of a router of the cluster took: one more than the last, by
/// compare-and-swap. Routers that share workers keep their connection ids apart with it.
public enum RouterSerial {
    public static func next(keys: ClusterKeys, etcd: EtcdClient) async throws -> UInt64 {
        for _ in 0..<100 {
            let last = try await etcd.range(keys.routerSerial).kvs.first
            let serial = UInt64(max(0, last?.integer ?? 0)) + 1
            if try await etcd.putIf(unchanged: [(keys.routerSerial, last?.modRevision ?? 0)],
                                    puts: [(keys.routerSerial, Array(String(serial).utf8), 0)]) != nil {
                return serial
            }
        }
        throw EtcdError("could not take a router serial number: a hundred tries raced with other routers")
    }
}

/// The cluster's partition count: fixed by the first host that joins.
public enum PartitionCount {
    /// Fails, saying why, unless the cluster's count is `partitions`; writes it if none was
    /// written yet.
    public static func check(_ partitions: Int, keys: ClusterKeys, etcd: EtcdClient) async throws {
        for _ in 0..<10 {
            if let kv = try await etcd.range(keys.partitionCount).kvs.first {
                guard let agreed = kv.integer else { throw EtcdError("\(keys.partitionCount) holds no partition count") }
                guard agreed == Int64(partitions) else {
                    throw EtcdError("cluster '\(keys.cluster)' has \(agreed) partitions, not \(partitions): its partition count is fixed when its first host joins")
                }
                return
            }
            if try await etcd.putIf(unchanged: [(keys.partitionCount, 0)], puts: [(keys.partitionCount, Array(String(partitions).utf8), 0)]) != nil {
                return
            }
        }
        throw EtcdError("could not agree on the partition count: ten tries raced with other hosts")
    }
}
