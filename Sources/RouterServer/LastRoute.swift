// The route of a connection's last publish. A publisher mostly sends to one exchange with
// one routing key, so the next publish with the same ones, while the topology snapshot is
// the same object, reuses the queues without hashing names or building a new array.
import RouterCore

struct LastRoute {
    /// Held (not just its identity) so that a new snapshot can never reuse its address.
    private var snapshot: TopologySnapshot?
    private var exchange = ""
    private var routingKey = ""
    private var result: [QueueRecord] = []

    init() {}

    init(snapshot: TopologySnapshot, exchange: String, routingKey: String, queues: [QueueRecord]) {
        self.snapshot = snapshot
        self.exchange = exchange
        self.routingKey = routingKey
        self.result = queues
    }

    func queues(snapshot: TopologySnapshot, exchange: String, routingKey: String) -> [QueueRecord]? {
        guard self.snapshot === snapshot, self.exchange == exchange, self.routingKey == routingKey else { return nil }
        return result
    }
}
