// A fixed-rate schedule: message k (0-based) is due at start + k / rate. A producer asks how
// many are due now, sends them in one batch, and sleeps until the next is due. When it has
// fallen more than `burst` messages behind (a stall), the backlog is forfeited rather than
// sent in one burst, which would distort the latency of a fixed-rate run.

/// How many messages a rate-limited producer may send, in nanoseconds of a monotonic clock.
public struct RateLimiter: Sendable, Hashable {
    /// Messages per second; positive.
    public let rate: Double
    /// The most messages released at once after a stall.
    public let burst: Int
    private var start: UInt64
    /// Messages accounted for since `start` (sent, or forfeited after a stall).
    public private(set) var issued: UInt64 = 0

    /// - Parameters:
    ///   - rate: messages per second (> 0).
    ///   - start: the schedule's time zero, in nanoseconds.
    ///   - burst: default 10 ms worth of messages, at least 1.
    public init(rate: Double, start: UInt64, burst: Int? = nil) {
        precondition(rate > 0)
        self.rate = rate
        self.start = start
        self.burst = burst ?? max(1, Int(rate / 100))
    }

    /// Messages due at `now` and not yet sent.
    public mutating func permits(now: UInt64) -> Int {
        guard now >= start else { return 0 }
        let due = UInt64(Double(now - start) * rate / 1e9) + 1 // message 0 is due at start
        guard due > issued else { return 0 }
        if due - issued > UInt64(burst) {
            issued = due - UInt64(burst)
        }
        return Int(due - issued)
    }

    /// Records `count` messages as sent.
    public mutating func consume(_ count: Int) {
        issued += UInt64(count)
    }

    /// Nanoseconds from `now` until the next message is due (0 if one is due already).
    public func nanosUntilNext(now: UInt64) -> UInt64 {
        // Message number `issued` is due at start + issued / rate.
        let dueAt = start + UInt64((Double(issued) * 1e9 / rate).rounded(.up))
        return dueAt > now ? dueAt - now : 0
    }
}
