// What the router does for a channel method, as `RouterChannel.receive` decides it. Every
// result says its scope: `fail` closes the channel, `closeConnection` the connection.
import AMQPWire
import BrokerModel
import LinkWire

public enum ChannelAction {
    /// Send this method on the channel.
    case send(AMQPMethod)
    /// Change the topology; on success send `reply` (if any) once the change is on disk, on
    /// failure close the channel with the error.
    case changeTopology(TopologyChange, reply: AMQPMethod?)
    /// Send this request to the worker owning `partition`. When the worker is down and
    /// `answerAwaited`, the channel takes the answer `RouterChannel.answerLost` gives.
    case request(LinkRequest, to: PartitionID, answerAwaited: Bool)
    /// A channel exception: channel.close with this code and RabbitMQ's full reply text.
    case fail(ReplyCode, String)
    /// A connection exception.
    case closeConnection(ReplyCode, String)
    /// The client closed the channel: release it on the workers, forget it, send close-ok.
    case closedByClient
    /// Direct reply-to (the pseudo-queue `amq.rabbitmq.reply-to`), served by the router's loop.
    case consumeReplyTo(BasicConsume)
    case cancelReplyTo(BasicCancel)
    case declareReplyTo(QueueDeclare)
    /// tx.commit: apply the transaction's settles and publishes in order, then send commit-ok.
    case commit(RouterChannel.Transaction)
    /// A worker declared the queue: record it (unless `keepExisting` and the router has it),
    /// then send `reply` once the change is on disk.
    case addQueue(QueueRecord, keepExisting: Bool, reply: AMQPMethod?)
    /// A worker deleted the queue: forget it and its bindings, then send `reply` once saved.
    case removeQueue(QueueID, reply: AMQPMethod?)
    /// basic.get-ok with the message.
    case sendGetOk(BasicGetOk, LinkMessage)
}

/// A change a channel method makes to the router's topology.
public enum TopologyChange: Sendable {
    case declareExchange(ExchangeDefinition, passive: Bool)
    case deleteExchange(ExchangeName, ifUnused: Bool)
    case bind(Binding)
    case unbind(Binding)

    public func apply(to topology: inout Topology, in vhost: VHost) throws(TopologyError) {
        switch self {
        case .declareExchange(let definition, let passive): try topology.declareExchange(definition, passive: passive, in: vhost)
        case .deleteExchange(let name, let ifUnused): try topology.deleteExchange(name, ifUnused: ifUnused, in: vhost)
        case .bind(let binding): try topology.bind(binding, in: vhost)
        case .unbind(let binding): try topology.unbind(binding, in: vhost)
        }
    }
}

/// What a channel method may depend on besides the channel itself.
public struct ChannelEnvironment {
    public var connection: ConnectionID
    public var vhost: VHost
    public var partitions: Int
    /// The topology as of now (for passive checks and exclusive-queue locks).
    public var topology: Topology
    /// Who logged in: the topology's permissions for them decide each operation.
    public var user: String

    public init(connection: ConnectionID, vhost: VHost, partitions: Int, topology: Topology, user: String = "guest") {
        self.connection = connection
        self.vhost = vhost
        self.user = user
        self.partitions = partitions
        self.topology = topology
    }

    public func partition(of queue: QueueID) -> PartitionID {
        Placement.partition(of: queue, partitions: partitions)
    }

    /// The channel's 403 when the user may not do `permission` to the named resource.
    func refused(_ permission: Permission, _ kind: AccessControl.ResourceKind, _ name: String) -> ChannelAction? {
        topology.access.refusal(user, permission, kind, name, in: vhost).map { .fail($0.code, $0.text) }
    }
}

/// A connection's requests to workers awaiting an answer, by id: which channel each answer is for.
public struct RequestTable {
    public struct Entry: Sendable {
        public var channel: ChannelNumber
        public var partition: PartitionID
        /// Set when the request re-attaches this consumer after its worker came back: no
        /// channel waits on the answer.
        public var reattaching: String?
    }

    private var next: UInt32 = 0
    private var byID: [LinkRequestID: Entry] = [:]

    public init() {}

    public mutating func make(channel: ChannelNumber, partition: PartitionID, reattaching: String? = nil) -> LinkRequestID {
        next &+= 1
        let id = LinkRequestID(next)
        byID[id] = Entry(channel: channel, partition: partition, reattaching: reattaching)
        return id
    }

    /// What an answer is for; the request is forgotten.
    public mutating func answered(_ id: LinkRequestID) -> Entry? {
        byID.removeValue(forKey: id)
    }

    public mutating func forget(_ id: LinkRequestID) { byID[id] = nil }

    /// The requests to `partition`, in the order they were made, forgotten: its worker went
    /// away and will not answer them.
    public mutating func removeAll(to partition: PartitionID) -> [Entry] {
        let lost = byID.filter { $0.value.partition == partition }.sorted { $0.key.value < $1.key.value }
        for (id, _) in lost { byID[id] = nil }
        return lost.map(\.value)
    }
}
