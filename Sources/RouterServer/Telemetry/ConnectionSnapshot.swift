// What the management API shows of client connections, their channels and consumers: a
// copy taken on each connection's own event loop (the only place its state may be read),
// then turned into RabbitMQ's JSON anywhere.
import AMQPWire
import BrokerModel
import Foundation
import NIOCore

enum WallClock {
    /// Milliseconds since the Unix epoch (RabbitMQ's `connected_at`).
    static func milliseconds() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1000))
    }
}

struct ConnectionSnapshot: Sendable {
    var id: ConnectionID
    /// RabbitMQ's connection name: "peer_host:peer_port -> host:port".
    var name: String
    var peerHost: String
    var peerPort: Int
    var host: String
    var port: Int
    var user: String
    var vhost: String
    var state: String
    var authMechanism: String
    var clientProperties: FieldTable
    var connectedAt: UInt64
    var frameMax: UInt32
    var channelMax: UInt16
    var heartbeat: UInt16
    var channels: [Channel]

    struct Channel: Sendable {
        var number: UInt16
        var consumerCount: Int
        var unacknowledged: Int
        var prefetchCount: UInt16
        var globalPrefetchCount: UInt32
        var confirm: Bool
        var transactional: Bool
        var consumers: [Consumer]
    }

    struct Consumer: Sendable {
        var tag: String
        var queue: QueueName
        var ackRequired: Bool
        var exclusive: Bool
        var prefetchCount: UInt16
        var arguments: FieldTable
    }

    func channelName(_ number: UInt16) -> String { "\(name) (\(number))" }
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
        return ConnectionSnapshot(
            id: id, name: "\(peerHost):\(peerPort) -> \(host):\(port)", peerHost: peerHost, peerPort: peerPort,
            host: host, port: port, user: connection.user, vhost: connection.vhost.name, state: state,
            authMechanism: connection.authMechanism, clientProperties: connection.clientProperties, connectedAt: connectedAt,
            frameMax: connection.frameMax, channelMax: connection.channelMax, heartbeat: connection.heartbeatSeconds,
            channels: channels)
    }
}

extension LoopServices {
    /// This loop's connections, sorted by id. On this loop.
    func managementSnapshots() -> [ConnectionSnapshot] {
        connections.values.compactMap { $0.managementSnapshot() }.sorted { $0.id.value < $1.id.value }
    }

    /// Closes the connection called `name` with 320 CONNECTION_FORCED, as RabbitMQ's
    /// management plugin does; false when no connection of this loop has that name.
    func forceClose(named name: String, reason: String) -> Bool {
        guard let connection = connections.values.first(where: { $0.managementSnapshot()?.name == name }) else { return false }
        connection.closeConnection(.connectionForced, "CONNECTION_FORCED - " + reason)
        return true
    }
}
