// Routers' membership in etcd: each router registers `routers/<serial>` under a lease it
// keeps alive, so its key is gone a TTL after it dies (at once when it stops cleanly).
// Workers are members through their partition claims. `broker cluster members` lists both.
import Foundation
import Logging
import NIOConcurrencyHelpers

/// What a router registers.
public struct RouterMember: Codable, Sendable, Equatable {
    public var node: String
    /// Where clients reach it (its AMQP listener).
    public var address: String
    public var pid: Int32
    public var serial: UInt64

    public init(node: String, address: String, pid: Int32, serial: UInt64) {
        self.node = node
        self.address = address
        self.pid = pid
        self.serial = serial
    }
}

/// This router's registration, alive while its lease is.
public final class RouterMembership: Sendable {
    public let member: RouterMember
    /// The other routers registered when this one joined.
    public let others: [RouterMember]
    let keys: ClusterKeys
    let etcd: EtcdClient
    let ttl: Int
    /// The lease, when it was asked for (etcd may end it a TTL after), the task renewing it
    /// (or registering again), and whether the router has left.
    private struct State {
        var lease: Int64 = 0
        var granted = ContinuousClock.now
        var renewal: Task<Void, Never>?
        var left = false
    }
    private let state = NIOLockedValueBox(State())

    private init(member: RouterMember, others: [RouterMember], lease: (Int64, ContinuousClock.Instant), keys: ClusterKeys,
                 etcd: EtcdClient, ttl: Int) {
        self.member = member
        self.others = others
        self.keys = keys
        self.etcd = etcd
        self.ttl = ttl
        state.withLockedValue { ($0.lease, $0.granted) = lease }
    }

    /// Registers `member`, then lists the routers (so that of two routers starting at once,
    /// at least the later sees the earlier).
    public static func join(_ member: RouterMember, keys: ClusterKeys, etcd: EtcdClient, ttl: Int) async throws -> RouterMembership {
        let lease = try await register(member, keys: keys, etcd: etcd, ttl: ttl)
        let others = try await list(keys: keys, etcd: etcd).filter { $0.serial != member.serial }
        return RouterMembership(member: member, others: others, lease: lease, keys: keys, etcd: etcd, ttl: ttl)
    }

    private static func register(_ member: RouterMember, keys: ClusterKeys, etcd: EtcdClient,
                                 ttl: Int) async throws -> (Int64, ContinuousClock.Instant) {
        let asked = ContinuousClock.now
        let lease = try await etcd.grantLease(ttl: ttl)
        try await etcd.put(keys.router(member.serial), Array(try JSONEncoder().encode(member)), lease: lease)
        return (lease, asked)
    }

    /// The routers registered now, by serial.
    public static func list(keys: ClusterKeys, etcd: EtcdClient) async throws -> [RouterMember] {
        try await etcd.range(keys.routers, prefix: true).kvs
            .compactMap { try? JSONDecoder().decode(RouterMember.self, from: Data($0.value)) }
            .sorted { $0.serial < $1.serial }
    }

    /// Keeps the registration alive. A router that lost its lease (etcd was out of reach for
    /// a TTL) registers again: it serves clients whether or not it is listed.
    public func keepAlive(logger: Logger) {
        let (lease, granted) = state.withLockedValue { ($0.lease, $0.granted) }
        let task = LeaseRenewal.start(lease, ttl: ttl, granted: granted, etcd: etcd, what: "router's membership", logger: logger) {
            self.registerAgain(logger: logger)
        }
        state.withLockedValue { $0.renewal = $0.left ? nil : task }
    }

    private func registerAgain(logger: Logger) {
        let task = Task {
            while !Task.isCancelled {
                do {
                    let lease = try await Self.register(member, keys: keys, etcd: etcd, ttl: ttl)
                    let left = state.withLockedValue { state in
                        (state.lease, state.granted) = lease
                        return state.left
                    }
                    // Left meanwhile: this registration must not outlive the router.
                    if left || Task.isCancelled {
                        try? await etcd.revoke(lease.0)
                        return
                    }
                    logger.notice("etcd: this router is registered again", metadata: ["serial": "\(member.serial)"])
                    return keepAlive(logger: logger)
                } catch {
                    logger.warning("etcd: cannot register this router again; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        state.withLockedValue { $0.renewal = task }
    }

    /// Leaves at once (a clean stop), instead of a TTL after.
    public func leave() async {
        let (lease, renewal) = state.withLockedValue { state in
            state.left = true
            return (state.lease, state.renewal)
        }
        renewal?.cancel()
        try? await etcd.revoke(lease)
    }
}
