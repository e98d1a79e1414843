// Invariant 3: delivery tags are per channel, start at 1 and rise by one across every queue
// the channel consumes from, whichever worker owns it. This map translates a client's tag back
// to (worker, worker tag) and splits a multiple=true settle into one "up to W" per worker.
//
// Why "up to W" per worker is exact: deliveries from one worker reach the channel in order on
// one stream, so within a partition the worker tags rise in client-tag order. The outstanding
// entries of partition P with client tag ≤ T are then exactly P's outstanding worker tags ≤ W,
// where W is the largest among them.
//
// Storage: a deque of outstanding entries sorted by client tag (tags are issued in increasing
// order). A multiple settle drains a prefix; a single settle finds its entry by binary search
// and tombstones it, and tombstones at the front are dropped, so both are O(log n) amortized.
// noAck deliveries consume a tag but are not stored: there is nothing to settle.
//
// When a worker goes away, its outstanding entries become orphans (invariant 9): the restarted
// worker redelivers those messages itself, so a client's settle of an orphan is accepted and
// goes to no worker, and a multiple settle skips them.
//
// Errors follow rabbit_channel:collect_acks: the tag itself must be outstanding, for
// multiple=true too (acking up to a tag that was never delivered, or already settled, is 406
// "unknown delivery tag N"), except tag 0 with multiple=true, which means "everything".
import BrokerModel
import DequeModule

/// A client asked to settle a delivery tag that is not outstanding on the channel.
public enum SettleError: Error, Hashable, Sendable {
    /// The router closes the channel: 406 "PRECONDITION_FAILED - unknown delivery tag N".
    case unknownTag(ClientDeliveryTag)
}

/// One settle for one worker: `tag` alone, or with `multiple` everything outstanding up to it.
public struct WorkerSettle: Hashable, Sendable {
    public var partition: PartitionID
    public var tag: PartitionDeliveryTag
    public var multiple: Bool

    public init(partition: PartitionID, tag: PartitionDeliveryTag, multiple: Bool) {
        self.partition = partition
        self.tag = tag
        self.multiple = multiple
    }
}

/// One channel's client delivery tags and the worker deliveries they stand for.
public struct DeliveryTagMap: Sendable {
    struct Entry: Sendable {
        var tag: UInt64
        var partition: PartitionID
        var partitionTag: PartitionDeliveryTag
        var settled: Bool
        /// The worker that sent it went away: a settle is accepted and goes nowhere.
        var orphaned = false
    }

    private var entries: Deque<Entry> = []
    private var nextValue: UInt64 = 1
    /// How many deliveries wait for a settle.
    public private(set) var outstandingCount = 0

    public init() {}

    /// Numbers a delivery from `partition`. `tracked` is false for noAck deliveries: they use
    /// a tag but leave nothing to settle.
    public mutating func nextTag(partition: PartitionID, partitionTag: PartitionDeliveryTag, tracked: Bool) -> ClientDeliveryTag {
        let tag = nextValue
        nextValue += 1
        if tracked {
            entries.append(Entry(tag: tag, partition: partition, partitionTag: partitionTag, settled: false))
            outstandingCount += 1
        }
        return ClientDeliveryTag(tag)
    }

    /// basic.ack / basic.nack / basic.reject: what to tell which worker. On error nothing
    /// changes (the channel is closing anyway).
    public mutating func settle(_ tag: ClientDeliveryTag, multiple: Bool) throws(SettleError) -> [WorkerSettle] {
        if multiple, tag.value == 0 { return settleAll() }
        if !multiple { return try settleOne(tag).map { [$0] } ?? [] }
        guard let index = find(tag.value) else { throw SettleError.unknownTag(tag) }
        return drain(through: index)
    }

    /// A settle of one tag (multiple=false), without the array: the per-message ack path.
    /// Nil for an orphan: the settle is accepted and no worker needs it.
    public mutating func settleOne(_ tag: ClientDeliveryTag) throws(SettleError) -> WorkerSettle? {
        guard let index = find(tag.value) else { throw SettleError.unknownTag(tag) }
        let entry = entries[index]
        entries[index].settled = true
        outstandingCount -= 1
        dropSettledPrefix()
        guard !entry.orphaned else { return nil }
        return WorkerSettle(partition: entry.partition, tag: entry.partitionTag, multiple: false)
    }

    /// Settles everything outstanding (e.g. basic.ack/nack with tag 0 and multiple).
    public mutating func settleAll() -> [WorkerSettle] {
        guard !entries.isEmpty else { return [] }
        return drain(through: entries.count - 1)
    }

    /// Forgets everything outstanding without settling: the channel closed, and each worker
    /// requeues that channel's unacked deliveries on its own. Tag numbering goes on.
    public mutating func forgetAll() {
        entries.removeAll()
        outstandingCount = 0
    }

    /// The worker owning `partition` went away: what it delivered is orphaned (it will
    /// redeliver those messages itself). Tag numbering goes on.
    public mutating func orphan(_ partition: PartitionID) {
        for index in entries.indices where entries[index].partition == partition {
            entries[index].orphaned = true
        }
    }

    /// Whether `tag` is outstanding.
    public func isOutstanding(_ tag: ClientDeliveryTag) -> Bool { find(tag.value) != nil }

    // Binary search for an outstanding (not tombstoned) entry.
    private func find(_ tag: UInt64) -> Int? {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].tag < tag { low = mid + 1 } else { high = mid }
        }
        guard low < entries.count, entries[low].tag == tag, !entries[low].settled else { return nil }
        return low
    }

    private mutating func dropSettledPrefix() {
        while let first = entries.first, first.settled { entries.removeFirst() }
    }

    // Settles entries[0...last]; one "up to W" per partition, sorted by partition.
    private mutating func drain(through last: Int) -> [WorkerSettle] {
        var result: [WorkerSettle] = []
        for _ in 0...last {
            let entry = entries.removeFirst()
            if entry.settled { continue }
            outstandingCount -= 1
            if entry.orphaned { continue }
            // Few partitions per channel: a linear scan beats hashing.
            if let at = result.firstIndex(where: { $0.partition == entry.partition }) {
                assert(result[at].tag < entry.partitionTag, "worker tags must rise in client-tag order")
                result[at].tag = entry.partitionTag
            } else {
                result.append(WorkerSettle(partition: entry.partition, tag: entry.partitionTag, multiple: true))
            }
        }
        dropSettledPrefix()
        result.sort { $0.partition < $1.partition }
        return result
    }
}
