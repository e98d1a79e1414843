// basic.publish needs write permission on its exchange (rabbit_channel checks it before
// routing). A connection mostly publishes to one exchange, so the last one allowed is kept
// with the topology snapshot it was allowed under: the next publish to it costs a compare,
// and any change of users or permissions (a new snapshot) checks again.
import BrokerModel

/// The exchange a connection last published to with permission, under one snapshot.
public struct PublishPermission {
    /// Held (not just its identity) so that a new snapshot can never reuse its address.
    private var snapshot: AnyObject?
    private var exchange = ""

    public init() {}

    /// The 403 for a publish to `exchange`, or nil when it is allowed.
    public mutating func refusal(exchange: String, snapshot: AnyObject, topology: Topology, user: String,
                                 vhost: VHost) -> TopologyError? {
        if self.snapshot === snapshot, self.exchange == exchange { return nil }
        if let refusal = topology.access.refusal(user, .write, .exchange, exchange, in: vhost) { return refusal }
        self.snapshot = snapshot
        self.exchange = exchange
        return nil
    }
}
