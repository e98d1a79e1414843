// A snapshot of one queue for introspection (GET /v1/queues on the worker).
import BrokerModel

/// One queue as an operator sees it.
public struct QueueSummary: Hashable, Sendable {
    public var vhost: VHost
    public var name: QueueName
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    /// Messages waiting to be delivered.
    public var ready: Int
    /// Messages delivered and not yet settled.
    public var unacked: Int
    /// Active consumers.
    public var consumers: Int

    public init(vhost: VHost, name: QueueName, durable: Bool, exclusive: Bool, autoDelete: Bool,
                ready: Int, unacked: Int, consumers: Int) {
        self.vhost = vhost
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.ready = ready
        self.unacked = unacked
        self.consumers = consumers
    }
}
