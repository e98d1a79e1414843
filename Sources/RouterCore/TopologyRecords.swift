// The two records the topology keeps besides exchanges: where a queue lives and who owns it,
// and a binding from an exchange to a queue.
import AMQPWire
import BrokerModel

/// A queue as the router knows it: enough to route to it and to enforce exclusivity. Its
/// messages, arguments and consumers live on the worker that owns `partition`.
public struct QueueRecord: Hashable, Sendable {
    public var id: QueueID
    public var partition: PartitionID
    public var durable: Bool
    /// The connection that declared an exclusive queue; nil for a shared one.
    public var exclusiveOwner: ConnectionID?
    public var autoDelete: Bool

    public init(id: QueueID, partition: PartitionID, durable: Bool = false,
                exclusiveOwner: ConnectionID? = nil, autoDelete: Bool = false) {
        self.id = id
        self.partition = partition
        self.durable = durable
        self.exclusiveOwner = exclusiveOwner
        self.autoDelete = autoDelete
    }
}

/// Where a binding leads: a queue (queue.bind) or another exchange (exchange.bind,
/// RabbitMQ's exchange-to-exchange bindings).
public enum BindingDestination: Hashable, Sendable {
    case queue(QueueName)
    case exchange(ExchangeName)
}

/// A binding from an exchange to a queue or exchange in the same virtual host. Two bindings
/// that differ only in their arguments are distinct bindings, as in RabbitMQ.
public struct Binding: Hashable, Sendable {
    public var source: ExchangeName
    public var destination: BindingDestination
    public var routingKey: String
    public var arguments: FieldTable

    public init(source: ExchangeName, destination: BindingDestination, routingKey: String, arguments: FieldTable = FieldTable()) {
        self.source = source
        self.destination = destination
        self.routingKey = routingKey
        self.arguments = arguments
    }

    public init(source: ExchangeName, queue: QueueName, routingKey: String, arguments: FieldTable = FieldTable()) {
        self.init(source: source, destination: .queue(queue), routingKey: routingKey, arguments: arguments)
    }

    /// The destination queue, when the binding leads to a queue.
    public var queue: QueueName? {
        if case .queue(let name) = destination { return name }
        return nil
    }
}
