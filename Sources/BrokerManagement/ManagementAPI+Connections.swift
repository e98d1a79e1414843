// /api/connections, /api/channels and /api/consumers, from copies of the connections taken
// on their event loops. DELETE /api/connections/{name} closes one as RabbitMQ does:
// connection.close 320 "CONNECTION_FORCED - Closed via management plugin" (or the reason in
// an X-Reason header). A user who is not an administrator closes only its own connections,
// and sees only those unless it is tagged monitoring (rabbit_mgmt_util:filter_user).
import BrokerModel
import BrokerTelemetry
import Definitions
import NIOCore
import NIOHTTP1

extension ManagementAPI {
    /// The connections the caller may see, or close.
    private func visibleConnections(toClose: Bool = false) -> EventLoopFuture<[ConnectionSnapshot]> {
        telemetry.connectionSnapshots().map { [viewer] list in
            guard let viewer, toClose || !viewer.monitoring else { return list }
            return list.filter { $0.user == viewer.user }
        }
    }

    func routeConnections(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        if call.match(.GET, "connections") != nil {
            return visibleConnections().map { Self.ok(.array($0.map(Self.connectionJSON))) }
        }
        if let name = call.match(.GET, "connections/*")?[0] {
            return visibleConnections().map { list in
                list.first { $0.name == name }.map { Self.ok(Self.connectionJSON($0)) } ?? Self.notFound
            }
        }
        if let name = call.match(.GET, "connections/*/channels")?[0] {
            return visibleConnections().map { list in
                list.first { $0.name == name }.map { Self.ok(.array(Self.channelEntries([$0]).map(\.json))) } ?? Self.notFound
            }
        }
        if let name = call.match(.DELETE, "connections/*")?[0] {
            let reason = call.request.headers.first(name: "X-Reason") ?? "Closed via management plugin"
            return visibleConnections(toClose: true).flatMap { [telemetry] list in
                guard list.contains(where: { $0.name == name }) else { return call.loop.makeSucceededFuture(Self.notFound) }
                return telemetry.closeConnection(named: name, reason: reason).map { $0 ? Self.noContent : Self.notFound }
            }
        }
        if call.match(.GET, "channels") != nil {
            return visibleConnections().map { Self.ok(.array(Self.channelEntries($0).map(\.json))) }
        }
        if let name = call.match(.GET, "channels/*")?[0] {
            return visibleConnections().map { list in
                Self.channelEntries(list).first { $0.name == name }.map { Self.ok($0.json) } ?? Self.notFound
            }
        }
        if call.match(.GET, "consumers") != nil {
            return visibleConnections().map { [self] in Self.ok(.array(consumerEntries($0).map(\.json))) }
        }
        if let vhostName = call.match(.GET, "consumers/*")?[0] {
            return visibleConnections().map { [self] list in
                guard vhost(vhostName) != nil else { return Self.notFound }
                return Self.ok(.array(consumerEntries(list).filter { $0.queue.vhost.name == vhostName }.map(\.json)))
            }
        }
        return nil
    }

    static func connectionJSON(_ c: ConnectionSnapshot) -> JSON {
        [
            "name": .string(c.name), "node": .string(nodeName), "state": .string(c.state), "type": "network",
            "user": .string(c.user), "user_who_performed_action": .string(c.user), "vhost": .string(c.vhost),
            "protocol": "AMQP 0-9-1", "auth_mechanism": .string(c.authMechanism), "ssl": .bool(c.tls),
            "host": .string(c.host), "port": .int(c.port), "peer_host": .string(c.peerHost), "peer_port": .int(c.peerPort),
            "channels": .int(c.channels.count), "channel_max": .int(c.channelMax), "frame_max": .int(c.frameMax),
            "timeout": .int(c.heartbeat), "client_properties": JSON(c.clientProperties), "connected_at": .int(c.connectedAt),
        ]
    }

    struct ChannelEntry {
        var name: String
        var json: JSON
    }

    static func channelEntries(_ connections: [ConnectionSnapshot]) -> [ChannelEntry] {
        connections.flatMap { c in
            c.channels.map { channel in
                let name = c.channelName(channel.number)
                return ChannelEntry(name: name, json: [
                    "name": .string(name), "node": .string(nodeName), "number": .int(channel.number),
                    "connection_details": ["name": .string(c.name), "peer_host": .string(c.peerHost), "peer_port": .int(c.peerPort)],
                    "user": .string(c.user), "user_who_performed_action": .string(c.user), "vhost": .string(c.vhost),
                    "state": "running", "consumer_count": .int(channel.consumerCount),
                    "messages_unacknowledged": .int(channel.unacknowledged),
                    "prefetch_count": .int(channel.prefetchCount), "global_prefetch_count": .int(channel.globalPrefetchCount),
                    "confirm": .bool(channel.confirm), "transactional": .bool(channel.transactional),
                ])
            }
        }
    }

    struct ConsumerEntry {
        var queue: QueueID
        var json: JSON
    }

    func consumerEntries(_ connections: [ConnectionSnapshot]) -> [ConsumerEntry] {
        connections.flatMap { c in
            c.channels.flatMap { channel in
                channel.consumers.map { consumer in
                    let queue = QueueID(vhost: VHost(c.vhost), name: consumer.queue)
                    return ConsumerEntry(queue: queue, json: [
                        "consumer_tag": .string(consumer.tag),
                        "queue": ["name": .string(consumer.queue.name), "vhost": .string(c.vhost)],
                        "channel_details": [
                            "connection_name": .string(c.name), "name": .string(c.channelName(channel.number)),
                            "node": .string(Self.nodeName), "number": .int(channel.number),
                            "peer_host": .string(c.peerHost), "peer_port": .int(c.peerPort), "user": .string(c.user),
                        ],
                        "ack_required": .bool(consumer.ackRequired), "active": true, "activity_status": "up",
                        "exclusive": .bool(consumer.exclusive), "prefetch_count": .int(consumer.prefetchCount),
                        "arguments": JSON(consumer.arguments),
                    ])
                }
            }
        }
    }
}
