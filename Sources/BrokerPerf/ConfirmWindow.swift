// Publisher-confirm bookkeeping for one channel (RabbitMQ's confirm extension): publishes
// are numbered from 1 after `confirm.select`; the broker acks or nacks each, possibly with
// multiple=true ("this one and every earlier one"), and possibly out of order when the
// queues live on different workers. The window is the span from the oldest unconfirmed
// publish to the next one: at most `limit` publishes are outstanding.

/// Tracks which publishes are still unconfirmed.
public struct ConfirmWindow: Sendable, Hashable {
    /// The most publishes in flight.
    public let limit: Int
    /// The sequence number the next publish gets.
    public private(set) var nextSequence: UInt64 = 1
    /// The oldest unconfirmed sequence number (== nextSequence when none is in flight).
    public private(set) var oldestUnconfirmed: UInt64 = 1
    /// Publishes acked so far.
    public private(set) var acked: UInt64 = 0
    /// Publishes nacked so far.
    public private(set) var nacked: UInt64 = 0
    /// settled[seq % limit]: seq (inside the window) was confirmed out of order.
    private var settled: [Bool]

    public init(limit: Int) {
        precondition(limit >= 1)
        self.limit = limit
        self.settled = [Bool](repeating: false, count: limit)
    }

    /// Publishes sent and not yet confirmed (nor skipped over by a confirm).
    public var inFlight: Int { Int(nextSequence - oldestUnconfirmed) }

    /// How many more may be published now.
    public var available: Int { limit - inFlight }

    /// Records `count` publishes (at most ``available``).
    public mutating func published(_ count: Int) {
        precondition(count <= available, "confirm window overrun")
        nextSequence += UInt64(count)
    }

    /// Applies a `basic.ack` (`ack` true) or `basic.nack`; returns how many publishes it
    /// newly settled. Tags outside the window (already settled, or never sent) are ignored.
    @discardableResult
    public mutating func settle(deliveryTag tag: UInt64, multiple: Bool, ack: Bool) -> Int {
        guard tag >= oldestUnconfirmed, tag < nextSequence else { return 0 }
        var newly = 0
        if multiple {
            var seq = oldestUnconfirmed
            while seq <= tag {
                let i = Int(seq % UInt64(limit))
                if settled[i] { settled[i] = false } else { newly += 1 }
                seq += 1
            }
            oldestUnconfirmed = tag + 1
        } else {
            let i = Int(tag % UInt64(limit))
            guard !settled[i] else { return 0 }
            settled[i] = true
            newly = 1
        }
        // Slide over publishes confirmed out of order.
        while oldestUnconfirmed < nextSequence {
            let i = Int(oldestUnconfirmed % UInt64(limit))
            guard settled[i] else { break }
            settled[i] = false
            oldestUnconfirmed += 1
        }
        if ack { acked += UInt64(newly) } else { nacked += UInt64(newly) }
        return newly
    }
}
