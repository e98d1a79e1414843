// Durable queues coming back from the store after a restart, and after a handover the
// queues and messages it carried over (PartitionEngine+CarryOver).
import BrokerModel
import LinkWire

extension PartitionEngine {
    /// Re-creates a durable queue (or one a handover carried) that the store recovered, with `run` describing its
    /// messages on disk (read back in order as consumers need them). Returns false when its
    /// arguments no longer parse (the queue is then left out).
    public mutating func restoreQueue(_ definition: JournalQueue, ref: UInt32, run: PagedRun?, nextSequence: UInt64, now: UInt64) -> Bool {
        self.now = now
        guard journal != nil, case .success(let policy) = QueuePolicy.parse(definition.arguments, queue: definition.id) else {
            return false
        }
        let queue = EngineQueue(id: definition.id, durable: definition.durable, exclusive: definition.exclusiveOwner != nil,
                                autoDelete: definition.autoDelete, arguments: definition.arguments, policy: policy,
                                owner: definition.exclusiveOwner, stats: stats, ledger: ledger)
        queue.lastUsed = now
        queue.journal = journal
        queue.storeRef = ref
        queue.paging = paging
        queue.nextSequence = nextSequence
        if let run, run.count > 0 {
            queue.paged = run
            // A priority queue must see all its messages to serve the highest first.
            if !queue.ready.isSingleLevel { queue.loadAllPaged() } else { ledger.wantPageIn.append(queue) }
        }
        queues[definition.id] = queue
        if let owner = definition.exclusiveOwner { connectionState(owner).ownedQueues.append(queue) }
        if policy.isTimed { timedQueues[ObjectIdentifier(queue)] = queue }
        return true
    }
}
