// What every connection on the router shares: limits, users, the topology, and the
// connection.start the broker introduces itself with.
import AMQPWire
import Atomics
import BrokerModel
import NIOCore

final class RouterContext: Sendable {
    static let maxFrameSize: UInt32 = 131_072
    static let maxChannels: UInt16 = 2047
    /// The largest body a publish may carry: RabbitMQ's default `max_message_size` (128 MiB).
    /// Larger bodies close the channel with 406; the assembler's 512 MiB is the frame-level cap.
    static let maxMessageSize = 128 << 20
    static let handshakeTimeout: TimeAmount = .seconds(10)
    static let closeOkTimeout: TimeAmount = .seconds(3)

    let partitions: Int
    let heartbeatSeconds: UInt16
    let users: UserDirectory
    let topology: TopologyStore
    let connectionStart: ConnectionStart
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

    init(partitions: Int, heartbeatSeconds: UInt16, users: UserDirectory, topology: TopologyStore = TopologyStore()) {
        self.topology = topology
        self.partitions = partitions
        self.heartbeatSeconds = heartbeatSeconds
        self.users = users
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
        connectionStart = ConnectionStart(
            versionMajor: 0, versionMinor: 9, serverProperties: properties,
            mechanisms: Array(SASL.mechanisms.joined(separator: " ").utf8), locales: Array("en_US".utf8))
    }

    func partition(of queue: QueueID) -> PartitionID {
        Placement.partition(of: queue, partitions: partitions)
    }
}

public enum BrokerVersion {
    public static let string = "0.1.0"
    /// The RabbitMQ release whose behaviour the broker follows. Clients, tools and client test
    /// suites read a RabbitMQ version (and the product "RabbitMQ") to pick features, so this is
    /// what connection.start and the management API's rabbitmq_version report.
    public static let rabbitmq = "3.10.8"
}

/// The broker's users. Until users are persisted (durability issue), the router is started
/// with its users on the command line; guest/guest by default, as RabbitMQ, with the
/// `administrator` tag that the management API requires for changes.
public struct UserDirectory: Sendable {
    public var passwords: [String: String]
    /// Management tags per user (RabbitMQ's administrator, monitoring, management …).
    public var tags: [String: [String]]

    public init(passwords: [String: String] = ["guest": "guest"], tags: [String: [String]] = ["guest": ["administrator"]]) {
        self.passwords = passwords
        self.tags = tags
    }

    func isAdministrator(_ user: String) -> Bool { tags[user]?.contains("administrator") ?? false }

    func authenticate(_ user: String, _ password: String) -> Bool {
        guard let expected = passwords[user] else { return false }
        // Compare without an early exit so timing does not reveal the matching prefix.
        let a = Array(expected.utf8), b = Array(password.utf8)
        var difference = a.count ^ b.count
        for i in 0..<min(a.count, b.count) { difference |= Int(a[i] ^ b[i]) }
        return difference == 0
    }
}

extension FieldTable {
    /// The client's `capabilities` sub-table (empty when absent).
    var capabilities: FieldTable {
        if case .table(let table)? = self["capabilities"] { return table }
        return FieldTable()
    }

    func flag(_ key: String) -> Bool {
        if case .bool(true)? = self[key] { return true }
        return false
    }
}
