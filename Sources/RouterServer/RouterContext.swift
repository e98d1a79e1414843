// What every connection on the router shares: limits, the topology (with the users), and the
// connection.start the broker introduces itself with.
import AMQPWire
import Atomics
import BrokerModel
import NIOConcurrencyHelpers
import NIOCore
import RouterCore

final class RouterContext: Sendable {
    static let maxFrameSize: UInt32 = 131_072
    static let maxChannels: UInt16 = 2047
    /// The largest body a publish may carry; larger ones close the channel with 406 (the
    /// assembler's 512 MiB is the frame-level cap).
    let maxMessageSize: Int
    /// Client connections the router takes at most (RabbitMQ's `connection_max`); nil for no limit.
    let maxConnections: Int?
    /// Client connections open now, over every event loop.
    let openConnections = ManagedAtomic<Int>(0)

    let partitions: Int
    let topology: TopologyStore
    /// What a new connection's handshake offers and checks (against the users of the
    /// topology snapshot in force at each step).
    let connectionSettings: ConnectionSettings
    /// The same on the TLS listener, where EXTERNAL (a client certificate) is offered too.
    let tlsConnectionSettings: ConnectionSettings
    /// Open connections per vhost, for max-connections: changed at connection.open and when a
    /// connection ends, never per message.
    private let vhostConnections: NIOLockedValueBox<[VHost: Int]>

    /// A connection admitted to `vhost` ended.
    func leaveVHost(_ vhost: VHost) {
        vhostConnections.withLockedValue { counts in
            counts[vhost, default: 1] -= 1
            if counts[vhost] == 0 { counts[vhost] = nil }
        }
    }

    /// Direct reply-to names with a live consumer.
    let replyNames = ReplyDirectory()
    /// The disk alarm is on: publishing connections get blocked.
    let diskAlarm = ManagedAtomic<Bool>(false)
    /// The memory alarm is on (the processes together use more than the watermark).
    let memoryAlarm = ManagedAtomic<Bool>(false)
    /// The memory limit the alarm compares with (bytes; 0 before the first check).
    let memoryLimit = ManagedAtomic<UInt64>(0)

    /// Some resource alarm is on: one or two relaxed loads per publish.
    var alarmActive: Bool { diskAlarm.load(ordering: .relaxed) || memoryAlarm.load(ordering: .relaxed) }

    init(partitions: Int, heartbeatSeconds: UInt16, maxMessageSize: Int = RouterConfiguration.defaultMaxMessageSize,
         maxConnections: Int? = nil, topology: TopologyStore = TopologyStore()) {
        self.topology = topology
        self.maxMessageSize = maxMessageSize
        self.maxConnections = maxConnections
        self.partitions = partitions
        // Advertise only what is implemented: clients switch features on from this table.
        let capabilities: FieldTable = [
            "publisher_confirms": .bool(true),
            "exchange_exchange_bindings": .bool(true),
            "basic.nack": .bool(true),
            "consumer_cancel_notify": .bool(true),
            "connection.blocked": .bool(true),
            "consumer_priorities": .bool(true),
            "authentication_failure_close": .bool(true),
            "per_consumer_qos": .bool(true),
            "direct_reply_to": .bool(true),
        ]
        let properties: FieldTable = [
            // RabbitMQ's product and version: clients switch behaviour on them (amqp091-go's
            // own tests expect 540 for basic.recover requeue=false only from "RabbitMQ").
            // Which broker this really is goes in `information`.
            "product": .longString(Array("RabbitMQ".utf8)),
            "version": .longString(Array(BrokerVersion.rabbitmq.utf8)),
            "platform": .longString(Array("Swift".utf8)),
            "copyright": .longString(Array("The broker authors".utf8)),
            "information": .longString(Array("broker \(BrokerVersion.string): a RabbitMQ-compatible AMQP 0-9-1 broker".utf8)),
            "capabilities": .table(capabilities),
        ]
        let start = ConnectionStart(
            versionMajor: 0, versionMinor: 9, serverProperties: properties,
            mechanisms: Array(SASL.mechanisms.joined(separator: " ").utf8), locales: Array("en_US".utf8))
        let tune = ConnectionTune(channelMax: Self.maxChannels, frameMax: Self.maxFrameSize, heartbeat: heartbeatSeconds)
        let counts = NIOLockedValueBox<[VHost: Int]>([:])
        vhostConnections = counts
        var settings = ConnectionSettings(start: start, tune: tune, access: { [topology] in topology.snapshot.access })
        settings.admit = { vhost, limit in
            counts.withLockedValue { counts in
                if let limit, counts[vhost, default: 0] >= limit { return false }
                counts[vhost, default: 0] += 1
                return true
            }
        }
        connectionSettings = settings
        var tlsSettings = connectionSettings
        tlsSettings.start.mechanisms = Array((SASL.mechanisms + [SASL.external]).joined(separator: " ").utf8)
        tlsConnectionSettings = tlsSettings
    }

    func partition(of queue: QueueID) -> PartitionID {
        Placement.partition(of: queue, partitions: partitions)
    }
}
