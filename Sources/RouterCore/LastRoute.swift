// The route of a connection's last publish. A publisher mostly sends to one exchange with
// one routing key, so the next publish with the same ones, while the topology snapshot is
// the same object, reuses the queues without hashing names or building a new array.
public struct LastRoute {
    /// Held (not just its identity) so that a new snapshot can never reuse its address.
    @usableFromInline var snapshot: AnyObject?
    @usableFromInline var exchange = ""
    @usableFromInline var routingKey = ""
    @usableFromInline var result: [QueueRecord] = []

    public init() {}

    public init(snapshot: AnyObject, exchange: String, routingKey: String, queues: [QueueRecord]) {
        self.snapshot = snapshot
        self.exchange = exchange
        self.routingKey = routingKey
        self.result = queues
    }

    /// The queues of the last route if `snapshot`, `exchange` and `routingKey` are its own.
    @inlinable
    public func queues(snapshot: AnyObject, exchange: String, routingKey: String) -> [QueueRecord]? {
        guard self.snapshot === snapshot, self.exchange == exchange, self.routingKey == routingKey else { return nil }
        return result
    }
}
