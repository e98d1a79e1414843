// Invariant 4: publisher confirms for one channel, modelled on rabbit_confirms.erl (sequence
// number → partitions still to accept) and rabbit_channel's coalesce_and_send.
// - The router numbers publishes 1, 2, 3 … once confirm.select is on.
// - A message routed to queues on k workers is acked once all k accepted it; routed nowhere,
//   at once. Any worker rejecting it, or failing while it waits, nacks the whole message.
// - Emission (drainActions), always in ascending sequence order:
//   * the completed run at the front (every sequence below the oldest still-waiting one) is
//     emitted as few frames as possible: each stretch of acks as one ack(last, multiple:
//     count > 1), each stretch of nacks likewise; a stretch never includes a nack that is
//     sent in the same batch, and a multiple frame is only sent when every sequence it covers
//     that the client has not yet had an answer for is complete with that same outcome;
//   * a message that completes above a still-waiting one is answered at once, alone
//     (multiple: false). This is RabbitMQ's choice too: it costs a frame but never holds a
//     confirm back behind a slow worker.
// - Every sequence is answered exactly once and never before it is complete.
// Storage: a deque of slots indexed by sequence − base, so lookups are O(1) with no hashing;
// answered slots at the front are dropped. The partitions a message waits for are a bitmask
// (partition indexes below 64, i.e. always in practice) or a set.
import BrokerModel
import DequeModule

/// A confirm for the publisher: basic.ack or basic.nack with this tag and multiple flag.
public enum ConfirmAction: Hashable, Sendable {
    case ack(deliveryTag: UInt64, multiple: Bool)
    case nack(deliveryTag: UInt64, multiple: Bool)
}

/// One channel's unconfirmed publishes and the confirms that became due.
public struct ConfirmTracker: Sendable {
    enum Waiting: Sendable, Equatable {
        case mask(UInt64)
        case set(Set<PartitionID>)

        init(_ partitions: Set<PartitionID>) {
            var mask: UInt64 = 0
            for partition in partitions {
                guard partition.index >= 0, partition.index < 64 else {
                    self = .set(partitions)
                    return
                }
                mask |= 1 << UInt64(partition.index)
            }
            self = .mask(mask)
        }

        init(_ partition: PartitionID) {
            if partition.index >= 0, partition.index < 64 {
                self = .mask(1 << UInt64(partition.index))
            } else {
                self = .set([partition])
            }
        }

        var isEmpty: Bool {
            switch self {
            case .mask(let mask): mask == 0
            case .set(let set): set.isEmpty
            }
        }

        func contains(_ partition: PartitionID) -> Bool {
            switch self {
            case .mask(let mask): partition.index >= 0 && partition.index < 64 && mask & (1 << UInt64(partition.index)) != 0
            case .set(let set): set.contains(partition)
            }
        }

        mutating func remove(_ partition: PartitionID) {
            switch self {
            case .mask(let mask):
                if partition.index >= 0, partition.index < 64 { self = .mask(mask & ~(1 << UInt64(partition.index))) }
            case .set(var set):
                self = .mask(0)
                set.remove(partition)
                self = .set(set)
            }
        }
    }

    enum Slot: Sendable, Equatable {
        /// Numbered by nextSequence, not yet published.
        case announced
        case waiting(Waiting)
        case acked
        case nacked
        /// Answered to the client.
        case emitted
    }

    private var slots: Deque<Slot> = []
    /// The sequence number of slots[0].
    private var base: UInt64 = 1
    private var nextValue: UInt64 = 1
    // Sequences that completed since the last drain, so a drain need not scan every slot.
    private var completed: [UInt64] = []

    public init() {}

    /// How many publishes have not been answered yet (confirm.select's "unconfirmed").
    public private(set) var unconfirmedCount = 0

    /// Publishes answered with basic.ack / basic.nack so far (for metrics).
    public private(set) var ackedCount: UInt64 = 0
    public private(set) var nackedCount: UInt64 = 0

    /// Whether every publish so far has been answered.
    public var isIdle: Bool { unconfirmedCount == 0 }

    /// Numbers the next publish: 1, 2, 3 … Every number must be followed by `published`.
    public mutating func nextSequence() -> UInt64 {
        let seq = nextValue
        nextValue += 1
        unconfirmedCount += 1
        slots.append(.announced)
        return seq
    }

    /// The publish `seq` went to these partitions; none means unroutable: confirmable at once.
    public mutating func published(_ seq: UInt64, partitions: Set<PartitionID>) {
        publish(seq, partitions.isEmpty ? nil : Waiting(partitions))
    }

    /// The publish `seq` went to one partition (the common case, without building a set).
    public mutating func published(_ seq: UInt64, partition: PartitionID) {
        publish(seq, Waiting(partition))
    }

    private mutating func publish(_ seq: UInt64, _ waiting: Waiting?) {
        guard let index = slotIndex(seq), slots[index] == .announced else { return }
        if let waiting, !waiting.isEmpty {
            slots[index] = .waiting(waiting)
        } else {
            complete(index, seq, .acked)
        }
    }

    /// `partition` has accepted `seq` (for a persistent message to a durable queue: after
    /// fsync). Repeats and unknown sequences are ignored.
    public mutating func accepted(_ seq: UInt64, by partition: PartitionID) {
        guard let index = slotIndex(seq), case .waiting(var waiting) = slots[index],
              waiting.contains(partition) else { return }
        waiting.remove(partition)
        if waiting.isEmpty {
            complete(index, seq, .acked)
        } else {
            slots[index] = .waiting(waiting)
        }
    }

    /// `partition` refused `seq`: the whole message is nacked.
    public mutating func rejected(_ seq: UInt64, by partition: PartitionID) {
        guard let index = slotIndex(seq), case .waiting(let waiting) = slots[index],
              waiting.contains(partition) else { return }
        complete(index, seq, .nacked)
    }

    /// `partition` failed (its link went down): every message still waiting for it is nacked.
    public mutating func partitionFailed(_ partition: PartitionID) {
        for index in slots.indices {
            if case .waiting(let waiting) = slots[index], waiting.contains(partition) {
                complete(index, base + UInt64(index), .nacked)
            }
        }
    }

    private mutating func complete(_ index: Int, _ seq: UInt64, _ outcome: Slot) {
        slots[index] = outcome
        completed.append(seq)
    }

    private mutating func count(_ outcome: Slot) {
        if outcome == .acked { ackedCount &+= 1 } else { nackedCount &+= 1 }
    }

    private func slotIndex(_ seq: UInt64) -> Int? {
        guard seq >= base, seq - base < UInt64(slots.count) else { return nil }
        return Int(seq - base)
    }

    /// The confirms that became due since the last call, coalesced, in sequence order.
    public mutating func drainActions() -> [ConfirmAction] {
        guard !completed.isEmpty else { return [] }
        var actions: [ConfirmAction] = []

        // 1. The completed run at the front.
        var runOutcome: Slot? = nil
        var runLast: UInt64 = 0
        var runCount = 0
        func flushRun() {
            guard let outcome = runOutcome else { return }
            actions.append(outcome == .acked
                ? .ack(deliveryTag: runLast, multiple: runCount > 1)
                : .nack(deliveryTag: runLast, multiple: runCount > 1))
            runOutcome = nil
            runCount = 0
        }
        var index = 0
        while index < slots.count {
            let slot = slots[index]
            if slot == .acked || slot == .nacked {
                if runOutcome != slot { flushRun() }
                runOutcome = slot
                runLast = base + UInt64(index)
                runCount += 1
                unconfirmedCount -= 1
                count(slot)
                slots[index] = .emitted
            } else if slot != .emitted {
                break
            }
            index += 1
        }
        flushRun()
        let front = index
        slots.removeFirst(front)
        base += UInt64(front)

        // 2. Completions above a still-waiting publish: answered alone.
        if !slots.isEmpty {
            completed.sort()
            for seq in completed {
                guard let at = slotIndex(seq) else { continue }
                switch slots[at] {
                case .acked: actions.append(.ack(deliveryTag: seq, multiple: false))
                case .nacked: actions.append(.nack(deliveryTag: seq, multiple: false))
                default: continue
                }
                count(slots[at])
                unconfirmedCount -= 1
                slots[at] = .emitted
            }
        }
        completed.removeAll(keepingCapacity: true)
        return actions
    }
}
