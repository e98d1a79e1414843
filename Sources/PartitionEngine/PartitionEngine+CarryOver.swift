// Before a handover (`broker cluster move-partition`, Docs/scale-out.md): what lives in
// memory only is written to the store, so that the new owner's recovery keeps it, once
// (`PartitionJournal.carryOver`). That is every transient message, in its queue and with its
// sequence, so that it comes back in its place among the persistent ones; deliveries of them
// still unacked, marked redelivered, as a restart brings back persistent ones; non-durable
// and exclusive queues, the latter with their owner; and transient delayed messages.
// Nothing is delivered or answered: the worker stops right after.
import BrokerModel
import LinkWire

extension PartitionEngine {
    public mutating func carryOver() throws {
        guard let journal else { return }
        let sorted = queues.values.sorted { ($0.id.vhost.name, $0.id.name.name) < ($1.id.vhost.name, $1.id.name.name) }
        let inMemory = sorted.filter { $0.journal == nil }
        let refs = journal.queuesDeclared(inMemory.map {
            JournalQueue(id: $0.id, autoDelete: $0.autoDelete, arguments: $0.arguments, durable: $0.durable, exclusiveOwner: $0.owner)
        })
        for (queue, ref) in zip(inMemory, refs) {
            queue.storeRef = ref
            queue.journal = journal
        }
        for queue in sorted where queue.storeRef != 0 {
            // Only those without a record: persistent ones, and transient ones paged out (and
            // read back), have theirs already.
            for entry in queue.ready.inDeliveryOrder where entry.stored == 0 {
                _ = journal.append(entry.message, queue: queue.storeRef, sequence: entry.sequence, expiresAt: entry.expiresAt,
                                   redelivered: entry.redelivered, persistent: false)
            }
        }
        for connection in connections.values {
            for channel in connection.channels.values {
                for delivery in channel.unacked where delivery.stored == 0 && !delivery.queue.isDeleted && delivery.queue.storeRef != 0 {
                    _ = journal.append(delivery.message, queue: delivery.queue.storeRef, sequence: delivery.sequence,
                                       expiresAt: .max, redelivered: true, persistent: false)
                }
            }
        }
        for entry in delayed.unordered where entry.stored == 0 {
            let ref = delayedExchangeRef(QueueID(vhost: entry.vhost, name: QueueName(entry.message.exchange)), journal)
            _ = journal.append(entry.message, queue: ref, sequence: entry.sequence, expiresAt: entry.dueAt,
                               redelivered: false, persistent: false)
        }
        try journal.carryOver()
    }
}
