// The router as the management endpoints see it (BrokerManagement.ManagementBackend): its
// counters, topology, users and alarms, its client connections read on their own loops, and
// requests to workers over the first loop's links.
import AMQPWire
import Atomics
import BrokerManagement
import BrokerModel
import BrokerTelemetry
import Foundation
import LinkWire
import NIOCore
import RouterCore

final class RouterManagementBackend: ManagementBackend {
    private let loops: [LoopServices]
    private let context: RouterContext

    init(loops: [LoopServices], context: RouterContext) {
        self.loops = loops
        self.context = context
    }

    var eventLoop: EventLoop { loops[0].eventLoop }
    var partitions: Int { context.partitions }
    var topology: Topology { context.topology.snapshot }

    func updateTopology<T>(_ change: @escaping @Sendable (inout Topology) throws(TopologyError) -> T) throws(TopologyError) -> T {
        try context.topology.update(change)
    }

    func partition(of queue: QueueID) -> PartitionID { context.partition(of: queue) }

    var alarms: ResourceAlarmState {
        ResourceAlarmState(memory: context.memoryAlarm.load(ordering: .relaxed), disk: context.diskAlarm.load(ordering: .relaxed),
                           memoryLimit: context.memoryLimit.load(ordering: .relaxed))
    }

    func routerCounters() -> EventLoopFuture<RouterCounters> {
        let parts = loops.map { loop in loop.eventLoop.submit { loop.snapshot() } }
        return EventLoopFuture.whenAllSucceed(parts, on: eventLoop).map { snapshots in
            snapshots.reduce(into: RouterCounters()) { $0.add($1) }
        }
    }

    func workerGet(_ path: String, partition: Int) -> EventLoopFuture<(status: Int, body: ByteBuffer)> {
        let link = loops[0].links[partition]
        return eventLoop.flatSubmit { link.get(path).map { (status: $0.status, body: $0.body) } }
    }

    func linkedEverywhere() -> EventLoopFuture<[Bool]> {
        let parts = loops.map { loop in loop.eventLoop.submit { loop.links.map(\.isLinked) } }
        return EventLoopFuture.whenAllSucceed(parts, on: eventLoop).map { perLoop in
            (0..<self.partitions).map { partition in perLoop.allSatisfy { $0[partition] } }
        }
    }

    func connections() -> EventLoopFuture<[ConnectionSnapshot]> {
        let parts = loops.map { loop in loop.eventLoop.submit { loop.managementSnapshots() } }
        return EventLoopFuture.whenAllSucceed(parts, on: eventLoop).map { $0.flatMap { $0 } }
    }

    func closeConnection(named name: String, reason: String) -> EventLoopFuture<Bool> {
        let parts = loops.map { loop in loop.eventLoop.submit { loop.forceClose(named: name, reason: reason) } }
        return EventLoopFuture.whenAllSucceed(parts, on: eventLoop).map { $0.contains(true) }
    }

    func controlRequest(to partition: PartitionID, _ make: @escaping @Sendable (LinkRequestID) -> LinkRequest) -> EventLoopFuture<RequestAnswer> {
        let link = loops[0].links[partition.index]
        return eventLoop.flatSubmit { link.controlRequest(make) }
    }
}

enum WallClock {
    /// Milliseconds since the Unix epoch (RabbitMQ's `connected_at`).
    static func milliseconds() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1000))
    }
}

extension AMQPConnectionHandler {
    /// The connection as the management API shows it; nil once closed. On its event loop.
    func managementSnapshot() -> ConnectionSnapshot? {
        guard !connection.isClosed else { return nil }
        let state = connection.rabbitState
        let peer = channelContext?.channel.remoteAddress
        let local = channelContext?.channel.localAddress
        let peerHost = peer?.ipAddress ?? "", host = local?.ipAddress ?? ""
        let peerPort = peer?.port ?? 0, port = local?.port ?? 0
        let channels = self.channels.values.sorted { $0.number < $1.number }.map { channel in
            ConnectionSnapshot.Channel(
                number: channel.number.value,
                consumerCount: channel.consumers.count + (channel.replyConsumer == nil ? 0 : 1),
                unacknowledged: channel.tags.outstandingCount, prefetchCount: channel.prefetchCount,
                globalPrefetchCount: channel.credit?.total ?? 0, confirm: channel.confirms != nil,
                transactional: channel.transaction != nil,
                consumers: channel.consumers.sorted { $0.key < $1.key }.map { tag, record in
                    ConnectionSnapshot.Consumer(tag: tag, queue: record.queue, ackRequired: !record.noAck,
                                                exclusive: record.exclusive, prefetchCount: record.prefetchCount,
                                                arguments: record.arguments)
                })
        }
        var snapshot = ConnectionSnapshot(
            id: id, name: "\(peerHost):\(peerPort) -> \(host):\(port)", peerHost: peerHost, peerPort: peerPort,
            host: host, port: port, user: connection.user, vhost: connection.vhost.name, state: state,
            authMechanism: connection.authMechanism, clientProperties: connection.clientProperties, connectedAt: connectedAt,
            frameMax: connection.frameMax, channelMax: connection.channelMax, heartbeat: connection.heartbeatSeconds,
            channels: channels)
        snapshot.tls = certificateLogin != nil
        return snapshot
    }
}

extension LoopServices {
    /// This loop's connections, sorted by id. On this loop.
    func managementSnapshots() -> [ConnectionSnapshot] {
        connections.values.compactMap { $0.managementSnapshot() }.sorted { $0.id.value < $1.id.value }
    }

    /// Closes this loop's connections to `vhosts` (deleted) with 320 CONNECTION_FORCED.
    func forceClose(in vhosts: Set<VHost>) {
        for connection in connections.values where vhosts.contains(connection.vhost) {
            connection.closeConnection(.connectionForced, "CONNECTION_FORCED - vhost '\(connection.vhost.name)' is deleted")
        }
    }

    /// Closes the connection called `name` with 320 CONNECTION_FORCED, as RabbitMQ's
    /// management plugin does; false when no connection of this loop has that name.
    func forceClose(named name: String, reason: String) -> Bool {
        guard let connection = connections.values.first(where: { $0.managementSnapshot()?.name == name }) else { return false }
        connection.closeConnection(.connectionForced, "CONNECTION_FORCED - " + reason)
        return true
    }
}
