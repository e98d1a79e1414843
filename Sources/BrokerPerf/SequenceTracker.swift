// Per-consumer ordering check. A queue delivers one channel's publishes in order (DESIGN
// invariant 6; spec 4.7), so whatever subset of a producer's messages one consumer gets is
// increasing. A sequence that does not move forward (mod 2^16) is a reordering or a
// duplicate. Gaps are normal: other consumers of the queue took those.

/// Counts deliveries that arrive out of publish order.
public struct SequenceTracker: Sendable, Hashable {
    private var last: [UInt16]
    private var seen: [Bool]
    /// Deliveries whose sequence did not advance past the previous one from that producer.
    public private(set) var outOfOrder: UInt64 = 0

    public init(producers: Int) {
        last = [UInt16](repeating: 0, count: producers)
        seen = [Bool](repeating: false, count: producers)
    }

    /// Records a delivery from `producer`; returns false if it is out of order. Unknown
    /// producer ids (messages not from this run) are ignored.
    @discardableResult
    public mutating func observe(producer: UInt16, sequence: UInt16) -> Bool {
        let p = Int(producer)
        guard p < last.count else { return true }
        defer { last[p] = sequence; seen[p] = true }
        guard seen[p] else { return true }
        // Forward means 1...32767 ahead modulo 2^16.
        if Int16(bitPattern: sequence &- last[p]) <= 0 {
            outOfOrder += 1
            return false
        }
        return true
    }
}
