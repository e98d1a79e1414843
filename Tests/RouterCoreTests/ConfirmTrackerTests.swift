import BrokerModel
import Testing
import TestSupport
@testable import RouterCore

@Suite("ConfirmTracker")
struct ConfirmTrackerTests {
    static func p(_ i: Int) -> PartitionID { PartitionID(i) }
    static func ps(_ i: Int...) -> Set<PartitionID> { Set(i.map(PartitionID.init)) }

    @Test("sequence numbers start at 1")
    func numbering() {
        var tracker = ConfirmTracker()
        #expect(tracker.nextSequence() == 1)
        #expect(tracker.nextSequence() == 2)
        #expect(tracker.unconfirmedCount == 2)
    }

    @Test("unroutable publishes are acked at once")
    func unroutable() {
        var tracker = ConfirmTracker()
        let seq = tracker.nextSequence()
        tracker.published(seq, partitions: [])
        #expect(tracker.drainActions() == [.ack(deliveryTag: 1, multiple: false)])
        #expect(tracker.drainActions() == [])
        #expect(tracker.isIdle)
    }

    @Test("a message on k partitions is acked only when all k accepted")
    func allPartitions() {
        var tracker = ConfirmTracker()
        let seq = tracker.nextSequence()
        tracker.published(seq, partitions: Self.ps(0, 1, 2))
        tracker.accepted(seq, by: Self.p(0))
        tracker.accepted(seq, by: Self.p(0))  // a repeat counts once
        tracker.accepted(seq, by: Self.p(2))
        #expect(tracker.drainActions() == [])
        tracker.accepted(seq, by: Self.p(5))  // not waited for: ignored
        #expect(tracker.drainActions() == [])
        tracker.accepted(seq, by: Self.p(1))
        #expect(tracker.drainActions() == [.ack(deliveryTag: 1, multiple: false)])
        tracker.accepted(seq, by: Self.p(1))
        #expect(tracker.drainActions() == [])
    }

    @Test("contiguous acks from the front coalesce into one multiple ack")
    func coalesce() {
        var tracker = ConfirmTracker()
        for _ in 1...5 { tracker.published(tracker.nextSequence(), partition: Self.p(0)) }
        for seq in 1...4 as ClosedRange<UInt64> { tracker.accepted(seq, by: Self.p(0)) }
        #expect(tracker.drainActions() == [.ack(deliveryTag: 4, multiple: true)])
        tracker.accepted(5, by: Self.p(0))
        #expect(tracker.drainActions() == [.ack(deliveryTag: 5, multiple: false)])
        #expect(tracker.isIdle)
    }

    @Test("completions above a waiting publish are answered alone, then the front coalesces")
    func outOfOrder() {
        var tracker = ConfirmTracker()
        for i in 0..<5 { tracker.published(tracker.nextSequence(), partition: Self.p(i % 2)) }
        // 1, 3, 5 on partition 0; 2, 4 on partition 1. Partition 1 answers first.
        tracker.accepted(2, by: Self.p(1))
        tracker.accepted(4, by: Self.p(1))
        #expect(tracker.drainActions() == [.ack(deliveryTag: 2, multiple: false), .ack(deliveryTag: 4, multiple: false)])
        tracker.accepted(1, by: Self.p(0))
        tracker.accepted(3, by: Self.p(0))
        // 1 and 3 are new and 2 was answered: one multiple ack up to 3 (4 needs no repeat).
        #expect(tracker.drainActions() == [.ack(deliveryTag: 3, multiple: true)])
        tracker.accepted(5, by: Self.p(0))
        #expect(tracker.drainActions() == [.ack(deliveryTag: 5, multiple: false)])
    }

    @Test("a rejection nacks the whole message; nacks never merge into acks")
    func reject() {
        var tracker = ConfirmTracker()
        for _ in 1...4 { tracker.published(tracker.nextSequence(), partitions: Self.ps(0, 1)) }
        for seq: UInt64 in [1, 2, 4] {
            tracker.accepted(seq, by: Self.p(0))
            tracker.accepted(seq, by: Self.p(1))
        }
        tracker.accepted(3, by: Self.p(0))
        tracker.rejected(3, by: Self.p(1))
        tracker.accepted(3, by: Self.p(1))  // too late: already nacked
        #expect(tracker.drainActions() == [
            .ack(deliveryTag: 2, multiple: true), .nack(deliveryTag: 3, multiple: false), .ack(deliveryTag: 4, multiple: false),
        ])
        #expect(tracker.isIdle)
    }

    @Test("a failed partition nacks everything still waiting for it")
    func partitionFailed() {
        var tracker = ConfirmTracker()
        tracker.published(tracker.nextSequence(), partition: Self.p(0))      // 1
        tracker.published(tracker.nextSequence(), partitions: Self.ps(0, 1)) // 2
        tracker.published(tracker.nextSequence(), partition: Self.p(1))      // 3
        tracker.published(tracker.nextSequence(), partition: Self.p(1))      // 4
        tracker.accepted(1, by: Self.p(0))
        tracker.accepted(4, by: Self.p(1))
        tracker.partitionFailed(Self.p(1))
        #expect(tracker.drainActions() == [
            .ack(deliveryTag: 1, multiple: false), .nack(deliveryTag: 3, multiple: true), .ack(deliveryTag: 4, multiple: false),
        ])
        // 2 was waiting on partition 1 too: nacked with 3 (multiple covers 2 and 3).
        #expect(tracker.isIdle)
        tracker.partitionFailed(Self.p(1))
        #expect(tracker.drainActions() == [])
    }

    @Test("partition indexes beyond a bitmask work the same")
    func largePartitions() {
        var tracker = ConfirmTracker()
        let seq = tracker.nextSequence()
        tracker.published(seq, partitions: Self.ps(3, 100))
        tracker.accepted(seq, by: Self.p(100))
        #expect(tracker.drainActions() == [])
        tracker.accepted(seq, by: Self.p(3))
        #expect(tracker.drainActions() == [.ack(deliveryTag: 1, multiple: false)])
    }

    /// The client's view: each action answers every unanswered tag it covers.
    struct Client {
        var unanswered: Set<UInt64> = []
        var outcome: [UInt64: Bool] = [:]

        mutating func apply(_ action: ConfirmAction) {
            let (tag, multiple, ack): (UInt64, Bool, Bool) = switch action {
            case .ack(let t, let m): (t, m, true)
            case .nack(let t, let m): (t, m, false)
            }
            let covered = multiple ? unanswered.filter { $0 <= tag } : (unanswered.contains(tag) ? [tag] : [])
            #expect(!covered.isEmpty, "an action that answers nothing: \(action)")
            #expect(!multiple || covered.count >= 1)
            for seq in covered {
                unanswered.remove(seq)
                outcome[seq] = ack
            }
        }
    }

    @Test("randomized: every publish is answered exactly once, with the right outcome, only when complete")
    func randomized() {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<40 {
            var tracker = ConfirmTracker()
            var client = Client()
            var waiting: [UInt64: Set<Int>] = [:]  // the truth: partitions still to accept
            var truth: [UInt64: Bool] = [:]         // final outcome once complete
            let failed = Set<Int>()
            let partitions = 5
            for step in 0..<400 {
                let roll = rng.next() % 10
                if roll < 4 {
                    let seq = tracker.nextSequence()
                    client.unanswered.insert(seq)
                    var targets = Set<Int>()
                    for _ in 0..<Int(rng.next() % 4) { targets.insert(Int(rng.next() % UInt64(partitions))) }
                    targets.subtract(failed)
                    if targets.isEmpty { truth[seq] = true } else { waiting[seq] = targets }
                    tracker.published(seq, partitions: Set(targets.map(PartitionID.init)))
                } else if let seq = waiting.keys.sorted().randomElement(using: &rng) {
                    let partition = waiting[seq]!.sorted().randomElement(using: &rng)!
                    if roll < 9 {
                        tracker.accepted(seq, by: Self.p(partition))
                        waiting[seq]!.remove(partition)
                        if waiting[seq]!.isEmpty { waiting[seq] = nil; truth[seq] = true }
                    } else if step % 3 == 0 {
                        tracker.rejected(seq, by: Self.p(partition))
                        waiting[seq] = nil
                        truth[seq] = false
                    } else {
                        tracker.partitionFailed(Self.p(partition))
                        for (s, set) in waiting where set.contains(partition) { waiting[s] = nil; truth[s] = false }
                    }
                }
                if rng.next() % 3 == 0 {
                    for action in tracker.drainActions() { client.apply(action) }
                    // Never answered before complete, and every complete one answered.
                    for seq in client.outcome.keys { #expect(truth[seq] == client.outcome[seq], "seq \(seq)") }
                    #expect(client.unanswered == Set(waiting.keys))
                }
            }
            for partition in 0..<partitions { tracker.partitionFailed(Self.p(partition)) }
            for (seq, _) in waiting { truth[seq] = false }
            for action in tracker.drainActions() { client.apply(action) }
            #expect(client.unanswered.isEmpty)
            #expect(tracker.isIdle)
            #expect(client.outcome.count == truth.count)
            for (seq, ok) in truth { #expect(client.outcome[seq] == ok, "seq \(seq)") }
        }
    }
}
