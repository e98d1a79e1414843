import BrokerModel
import Testing
import TestSupport
@testable import RouterCore

/// Simulates a channel with a global prefetch consuming from several workers, with messages
/// in flight both ways in any interleaving, and checks invariant 5: the channel never has
/// more than its limit unacked, and every message is delivered (no worker starves).
@Suite("GlobalCredit")
struct GlobalCreditTests {
    enum ToWorker { case limit(UInt32), ack }
    enum ToRouter { case delivered, wanted, used(UInt32, Int) }

    struct Worker {
        var remaining: Int
        var outstanding = 0
        var limit: UInt32?
        var askedForCredit = false
        var loweredPending = false
        var inbox: [ToWorker] = []
        var outbox: [ToRouter] = []

        /// PartitionEngine's behaviour for one channel (setChannelLimit, settle, dispatch).
        mutating func step() {
            guard !inbox.isEmpty else { return }
            switch inbox.removeFirst() {
            case .limit(let value):
                limit = value
                askedForCredit = false
                loweredPending = outstanding > Int(value)
                outbox.append(.used(value, outstanding))
            case .ack:
                outstanding -= 1
                if loweredPending, let limit, outstanding <= Int(limit) {
                    loweredPending = false
                    outbox.append(.used(limit, outstanding))
                }
            }
            deliver()
        }

        mutating func deliver() {
            guard let limit else { return }
            while remaining > 0 {
                guard outstanding < Int(limit) else {
                    if !askedForCredit {
                        askedForCredit = true
                        outbox.append(.wanted)
                    }
                    return
                }
                remaining -= 1
                outstanding += 1
                outbox.append(.delivered)
            }
        }
    }

    static func simulate(limit: UInt32, messages: [Int], seed: UInt64) -> (maxUnacked: Int, delivered: Int, steps: Int) {
        var random = SeededGenerator(seed: seed)
        var credit = GlobalCredit(total: limit)
        var workers = messages.map { Worker(remaining: $0) }
        var unackedAtRouter = [Int](repeating: 0, count: workers.count)
        var delivered = 0
        var maxUnacked = 0
        func send(_ commands: [GlobalCredit.Command]) {
            for command in commands { workers[command.partition.index].inbox.append(.limit(command.limit)) }
        }
        for index in workers.indices { send(credit.join(PartitionID(index))) }
        let total = messages.reduce(0, +)
        var steps = 0
        while delivered < total || unackedAtRouter.contains(where: { $0 > 0 }) {
            steps += 1
            if steps > 200_000 { break }
            let w = Int(random.next() % UInt64(workers.count))
            switch random.next() % 3 {
            case 0:
                workers[w].step()
            case 1:
                guard !workers[w].outbox.isEmpty else { continue }
                switch workers[w].outbox.removeFirst() {
                case .delivered:
                    unackedAtRouter[w] += 1
                    delivered += 1
                case .wanted:
                    send(credit.wanted(by: PartitionID(w)))
                case .used(let value, let unacked):
                    send(credit.used(PartitionID(w), limit: value, unacked: UInt32(unacked)))
                }
            default:
                guard unackedAtRouter[w] > 0 else { continue }
                unackedAtRouter[w] -= 1
                workers[w].inbox.append(.ack)
            }
            maxUnacked = max(maxUnacked, workers.reduce(0) { $0 + $1.outstanding })
        }
        return (maxUnacked, delivered, steps)
    }

    struct Scenario: Sendable, CustomStringConvertible {
        var limit: UInt32
        var messages: [Int]
        var description: String { "limit \(limit), messages \(messages)" }
    }

    static let scenarios = [
        Scenario(limit: 1, messages: [20, 20]), Scenario(limit: 2, messages: [10, 30, 5]),
        Scenario(limit: 3, messages: [20, 20]), Scenario(limit: 10, messages: [100, 100, 100, 100]),
        Scenario(limit: 5, messages: [0, 50]), Scenario(limit: 100, messages: [300, 7]),
    ]

    @Test("never exceeds the limit and starves no worker", arguments: scenarios)
    func neverExceedsAndNeverStarves(scenario: Scenario) {
        let limit = scenario.limit, messages = scenario.messages
        for seed in 1...40 as ClosedRange<UInt64> {
            let result = Self.simulate(limit: limit, messages: messages, seed: seed)
            #expect(result.maxUnacked <= Int(limit), "seed \(seed)")
            #expect(result.delivered == messages.reduce(0, +), "seed \(seed): stalled after \(result.steps) steps")
        }
    }

    @Test("a channel on one worker gives it the whole limit and sends nothing more")
    func oneWorkerHoldsEverything() {
        var credit = GlobalCredit(total: 50)
        #expect(credit.join(PartitionID(0)) == [GlobalCredit.Command(partition: PartitionID(0), limit: 50)])
        #expect(credit.wanted(by: PartitionID(0)).isEmpty)
        #expect(credit.used(PartitionID(0), limit: 50, unacked: 0).isEmpty)
    }

    @Test("a second worker gets credit only after the first reports what it holds")
    func movesCreditOnlyAfterTheReport() {
        var credit = GlobalCredit(total: 10)
        _ = credit.join(PartitionID(0))
        #expect(credit.join(PartitionID(1)) == [GlobalCredit.Command(partition: PartitionID(1), limit: 0)])
        #expect(credit.wanted(by: PartitionID(1)) == [GlobalCredit.Command(partition: PartitionID(0), limit: 5)])
        // Still 7 unacked on worker 0: only 3 can move for now.
        #expect(credit.used(PartitionID(0), limit: 5, unacked: 7) == [GlobalCredit.Command(partition: PartitionID(1), limit: 3)])
        #expect(credit.used(PartitionID(0), limit: 5, unacked: 5).isEmpty)
    }
}
