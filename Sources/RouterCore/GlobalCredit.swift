// Invariant 5: a channel's global prefetch (basic.qos global=true) enforced across workers
// without ever being exceeded and without a round trip per message. Each worker the channel
// consumes from holds a share, a limit on the channel's unacked deliveries there, which it
// enforces on its own; the shares never add up to more than the channel's limit.
//
// - A channel that consumes from one worker gives it the whole limit: no messages at all
//   flow for credit after that.
// - A worker with messages waiting but its share used up asks once (`wanted`). The router
//   then splits the limit fairly among the workers that ask or hold credit: the ones holding
//   less go first, so with a limit smaller than the number of workers the credit rotates.
// - Lowering a share takes effect at the worker at once, but the credit it frees is only
//   given to another worker once the worker reports (`used`) how much it has unacked; the
//   router counts the old share as used until then, and the reported count after.
import BrokerModel

public struct GlobalCredit: Sendable {
    /// Set this worker's share of the channel's limit.
    public struct Command: Hashable, Sendable {
        public var partition: PartitionID
        public var limit: UInt32
    }

    struct Share: Sendable {
        /// The share last sent to the worker.
        var limit: UInt32
        /// An upper bound of the worker's unacked deliveries: the limit, or more while the
        /// worker has more unacked than a lowered limit.
        var usage: UInt32
    }

    /// The channel's prefetch count.
    public private(set) var total: UInt32
    var shares: [PartitionID: Share] = [:]
    /// Workers whose request for credit is unanswered, oldest first.
    var wanting: [PartitionID] = []

    public init(total: UInt32) {
        self.total = total
    }

    /// Credit no share holds.
    var free: Int { Int(total) - shares.values.reduce(0) { $0 + Int($1.usage) } }

    /// The workers that hold a share, in order.
    public var partitions: [PartitionID] { shares.keys.sorted() }

    /// The worker's current share, if it has one.
    public func share(of partition: PartitionID) -> UInt32? { shares[partition]?.limit }

    /// A consumer is about to be added on `partition`. A worker new to the channel gets the
    /// credit nobody holds (all of it for the first), before its first consumer exists.
    public mutating func join(_ partition: PartitionID) -> [Command] {
        guard shares[partition] == nil else { return [] }
        let limit = UInt32(max(0, free))
        shares[partition] = Share(limit: limit, usage: limit)
        return [Command(partition: partition, limit: limit)]
    }

    /// The channel's last consumer on `partition` is gone: its share returns once settled.
    public mutating func leave(_ partition: PartitionID) -> [Command] {
        guard let share = shares[partition] else { return [] }
        wanting.removeAll { $0 == partition }
        var commands: [Command] = []
        if share.limit > 0 { commands.append(set(partition, 0)) }
        return commands + rebalance()
    }

    /// The worker owning `partition` went away with its unacked deliveries: its share is free
    /// at once. A re-attached consumer joins again.
    public mutating func lost(_ partition: PartitionID) -> [Command] {
        guard shares.removeValue(forKey: partition) != nil else { return [] }
        wanting.removeAll { $0 == partition }
        return rebalance()
    }

    public mutating func wanted(by partition: PartitionID) -> [Command] {
        guard shares[partition] != nil else { return [] }
        if !wanting.contains(partition) { wanting.append(partition) }
        return rebalance()
    }

    /// The worker reports `unacked` deliveries while its share is `limit` (a report for an
    /// older share is ignored: the share it answers has changed since).
    public mutating func used(_ partition: PartitionID, limit: UInt32, unacked: UInt32) -> [Command] {
        guard var share = shares[partition], share.limit == limit else { return [] }
        share.usage = max(limit, min(unacked, share.usage))
        shares[partition] = share
        return rebalance()
    }

    /// basic.qos changed the limit while consumers exist.
    public mutating func setTotal(_ newTotal: UInt32) -> [Command] {
        total = newTotal
        var commands: [Command] = []
        if shares.count == 1, let partition = shares.keys.first {
            if shares[partition]!.limit != newTotal { commands.append(set(partition, newTotal)) }
            return commands
        }
        let fair = newTotal / UInt32(max(1, shares.count))
        for partition in shares.keys.sorted() where shares[partition]!.limit > fair {
            commands.append(set(partition, fair))
        }
        return commands + rebalance()
    }

    /// Splits the limit among the workers that want or hold credit; lowers shares above
    /// their part and raises wanting workers below theirs with the free credit.
    mutating func rebalance() -> [Command] {
        guard !wanting.isEmpty else { return [] }
        // Wanting workers holding the least go first (they get the remainder), then holders.
        let askers = wanting.enumerated().sorted { a, b in
            let la = shares[a.element]!.limit, lb = shares[b.element]!.limit
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
        let holders = shares.keys.sorted().filter { !wanting.contains($0) && shares[$0]!.limit > 0 }
        let participants = askers + holders
        let base = total / UInt32(participants.count)
        let extra = Int(total % UInt32(participants.count))
        var target: [PartitionID: UInt32] = [:]
        for (index, partition) in participants.enumerated() {
            target[partition] = base + (index < extra ? 1 : 0)
        }
        var commands: [Command] = []
        for partition in participants where shares[partition]!.limit > target[partition]! {
            commands.append(set(partition, target[partition]!))
        }
        var available = free
        for partition in askers where wanting.contains(partition) && available > 0 {
            let share = shares[partition]!
            let raise = min(Int(target[partition]! - min(share.limit, target[partition]!)), available)
            guard raise > 0 else { continue }
            available -= raise
            commands.append(set(partition, share.limit + UInt32(raise)))
        }
        return commands
    }

    /// Records a new share for `partition`; the worker's request, if any, is answered.
    private mutating func set(_ partition: PartitionID, _ limit: UInt32) -> Command {
        var share = shares[partition]!
        share.limit = limit
        share.usage = max(share.usage, limit)
        shares[partition] = share
        wanting.removeAll { $0 == partition }
        return Command(partition: partition, limit: limit)
    }
}
