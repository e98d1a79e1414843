// Manual acknowledgement every N deliveries: one `basic.ack` with multiple=true covers the
// last N (spec 1.8.3.13). N = 1 acks each delivery on its own (multiple=false).
import AMQPWire

/// Decides when a consumer sends an ack.
public struct AckBatcher: Sendable, Hashable {
    /// Deliveries per ack.
    public let every: Int
    /// Deliveries received since the last ack.
    public private(set) var unacked = 0

    public init(every: Int) {
        precondition(every >= 1)
        self.every = every
    }

    /// Records a delivery; returns the ack to send now, if one is due.
    public mutating func delivered(tag: UInt64) -> BasicAck? {
        unacked += 1
        guard unacked >= every else { return nil }
        unacked = 0
        return BasicAck(deliveryTag: tag, multiple: every > 1)
    }
}
