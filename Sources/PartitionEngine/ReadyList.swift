// A queue's ready messages: one FIFO per priority level (one level for a queue without
// x-max-priority), served highest level first, as RabbitMQ's priority queues do.
import DequeModule
import LinkWire

/// A message waiting in a queue. `sequence` is its position in the queue's publish order;
/// a requeued message keeps it, so it goes back where it was.
struct ReadyMessage {
    var sequence: UInt64
    var redelivered: Bool
    var message: LinkMessage
    /// When the message expires (engine milliseconds); `.max` for never.
    var expiresAt: UInt64 = .max
    /// When it entered the queue (or came back to it), for the queue-wait histogram.
    var enqueuedAt: UInt64 = 0
    /// The store segment holding the message; 0 when it is in memory only.
    var stored: UInt32 = 0
}

struct ReadyList {
    /// Index = priority; each level sorted by `sequence`.
    private var levels: [Deque<ReadyMessage>]
    private(set) var count = 0

    /// `maxPriority` nil: a plain FIFO.
    init(maxPriority: UInt8?) {
        levels = Array(repeating: [], count: Int(maxPriority ?? 0) + 1)
    }

    var isEmpty: Bool { count == 0 }

    /// No priority levels: a plain FIFO.
    var isSingleLevel: Bool { levels.count == 1 }

    /// Every message in delivery order (for introspection and tests, not the hot path).
    var inDeliveryOrder: [ReadyMessage] { levels.reversed().flatMap { Array($0) } }

    /// The level a message belongs to: its priority property, capped at the queue's maximum
    /// (RabbitMQ treats a missing priority as 0 and a higher one as the maximum).
    func level(of message: LinkMessage) -> Int {
        levels.count == 1 ? 0 : min(Int(message.priority ?? 0), levels.count - 1)
    }

    /// The level the next message comes from.
    private var topLevel: Int? {
        var index = levels.count - 1
        while index >= 0 {
            if !levels[index].isEmpty { return index }
            index -= 1
        }
        return nil
    }

    var first: ReadyMessage? {
        topLevel.map { levels[$0].first! }
    }

    mutating func append(_ entry: ReadyMessage) {
        levels[level(of: entry.message)].append(entry)
        count &+= 1
    }

    mutating func removeFirst() -> ReadyMessage {
        count &-= 1
        return levels[topLevel!].removeFirst()
    }

    mutating func removeAll() {
        for index in levels.indices { levels[index].removeAll() }
        count = 0
    }

    /// Puts a requeued message back at its original position within its level.
    mutating func insert(_ entry: ReadyMessage) {
        let index = level(of: entry.message)
        count &+= 1
        guard let last = levels[index].last, last.sequence > entry.sequence else {
            levels[index].append(entry)
            return
        }
        // Binary search for the first message published after this one. Requeues usually
        // land near the head, where Deque inserts cheaply.
        var low = 0
        var high = levels[index].count
        while low < high {
            let mid = (low &+ high) / 2
            if levels[index][mid].sequence < entry.sequence { low = mid &+ 1 } else { high = mid }
        }
        levels[index].insert(entry, at: low)
    }
}
