// One queue of the partition: its ready messages in publish order, its consumers in
// round-robin order, and the count of its deliveries still unacked.
import BrokerModel
import LinkWire
import NIOCore

/// A queue. A class so that consumers and unacked deliveries refer to it without hashing its
/// name per message; once deleted it is flagged and forgotten by the engine, and late
/// settlements that still refer to it are no-ops.
final class EngineQueue {
    let id: QueueID
    let durable: Bool
    let exclusive: Bool
    let autoDelete: Bool
    let arguments: ByteBuffer
    let policy: QueuePolicy
    /// The connection that declared an exclusive queue.
    let owner: ConnectionID?
    /// The partition's counters.
    let stats: EngineStats
    /// The partition's record of connections with unflushed deliveries.
    let ledger: OutputLedger

    var ready: ReadyList
    var nextSequence: UInt64 = 0
    /// Active consumers, highest `x-priority` first and in subscription order within a
    /// priority; `cursor` is where the next round-robin search starts.
    var consumers: [EngineConsumer] = []
    var cursor = 0
    /// Whether consumers differ in priority (then only the highest with capacity is served).
    private var mixedPriorities = false
    var unackedCount = 0
    /// Body bytes of the ready messages (for x-max-length-bytes).
    var readyBytes = 0
    var isDeleted = false
    /// When the queue was last used (declare, consume, get), for x-expires.
    var lastUsed: UInt64 = 0

    /// The store that keeps a durable queue's persistent messages, and the queue's number
    /// there; nil for a queue that lives in memory only.
    var journal: PartitionJournal?
    var storeRef: UInt32 = 0
    /// The newest messages of a long queue, on disk only (memory stays bounded).
    var paged: PagedRun?
    var paging = PagingLimits()

    init(id: QueueID, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: ByteBuffer,
         policy: QueuePolicy = .none, owner: ConnectionID?, stats: EngineStats, ledger: OutputLedger) {
        self.stats = stats
        self.ledger = ledger
        self.id = id
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.policy = policy
        self.owner = owner
        self.ready = ReadyList(maxPriority: policy.maxPriority)
    }

    /// An exclusive consumer is always the only one.
    var hasExclusiveConsumer: Bool { consumers.first?.exclusive ?? false }

    /// Whether `connection` may use this queue (RabbitMQ's lax exclusive-access check).
    func isAccessible(by connection: ConnectionID) -> Bool {
        !exclusive || owner == connection
    }

    /// Ready messages, those paged out included.
    var readyCount: Int { ready.count &+ (paged?.count ?? 0) }

    /// Appends a published message. With `reject-publish` overflow a full queue refuses it
    /// (false); with `drop-head` the oldest messages make room, dead-lettered as `maxlen`.
    /// `stored` is set when the message went to disk as a persistent one, so that its confirm
    /// waits for the store's fsync.
    func enqueue(_ message: LinkMessage, expiration: UInt64?, now: UInt64, stored: inout Bool,
                 into output: inout EngineOutput) -> Bool {
        let size = message.body.readableBytes
        if policy.overflow != .dropHead, isFull(adding: size) {
            stats.counters.overflowed &+= 1
            if policy.overflow == .rejectPublishDeadLetter { deadLetter(message, .maxlen, into: &output) }
            return false
        }
        stats.counters.enqueued &+= 1
        var ttl = policy.messageTTL
        if let expiration { ttl = min(ttl ?? .max, expiration) }
        let expiresAt = ttl.map { now &+ $0 } ?? .max
        let sequence = nextSequence
        nextSequence &+= 1
        var segment: UInt32 = 0
        if let journal {
            // A queue a handover carried has a store too, but only for paging.
            let persistent = message.isPersistent && durable && !exclusive
            if paged != nil || shouldStartPaging {
                if paged == nil { paged = PagedRun(firstSequence: sequence, cursor: journal.appendPosition) }
                segment = journal.append(message, queue: storeRef, sequence: sequence, expiresAt: expiresAt,
                                         redelivered: false, persistent: persistent)
                paged!.added(segment: segment, bytes: size)
                stored = stored || persistent
                dropHeadsWhileFull(into: &output)
                return true
            }
            if persistent {
                segment = journal.append(message, queue: storeRef, sequence: sequence, expiresAt: expiresAt,
                                         redelivered: false, persistent: true)
                stored = true
            }
        }
        ready.append(ReadyMessage(sequence: sequence, redelivered: false, message: message, expiresAt: expiresAt,
                                  enqueuedAt: now, stored: segment))
        readyBytes &+= size
        dropHeadsWhileFull(into: &output)
        return true
    }

    private func dropHeadsWhileFull(into output: inout EngineOutput) {
        while policy.overflow == .dropHead, isFull(adding: 0), let head = takeHead() {
            forget(head.sequence, stored: head.stored)
            stats.counters.overflowed &+= 1
            deadLetter(head.message, .maxlen, into: &output)
        }
    }

    /// A plain (not priority) queue of a store pages its newest messages out beyond the limits.
    private var shouldStartPaging: Bool {
        ready.isSingleLevel && (ready.count >= paging.pageAboveCount || readyBytes >= paging.pageAboveBytes)
    }

    /// Over a length limit (only ready messages count, as in RabbitMQ).
    private func isFull(adding size: Int) -> Bool {
        let extra = size > 0 ? 1 : 0
        if let max = policy.maxLength, readyCount + extra > max { return true }
        if let max = policy.maxLengthBytes, readyBytes &+ (paged?.bytes ?? 0) &+ size > max { return true }
        return false
    }

    /// The next ready message. Memory is topped up from the store between the host's batches
    /// (`PartitionEngine.pageIn`); only when memory holds none while the store holds more is
    /// a batch read back here, so that no consumer or get sees a queue as empty that is not.
    func nextReady() -> ReadyMessage? {
        if ready.isEmpty, paged != nil { pageIn() }
        return ready.first
    }

    /// Fewer than `refillBelow` ready messages in memory while older ones wait in the store.
    var wantsPageIn: Bool { paged != nil && ready.count < paging.refillBelow }

    /// Removes and returns the next ready message (for delivery or removal).
    @discardableResult
    func takeHead() -> ReadyMessage? {
        guard nextReady() != nil else { return nil }
        return removeFirstReady()
    }

    /// Removes the first message in memory; call after `nextReady()` said there is one.
    func removeFirstReady() -> ReadyMessage {
        let first = ready.removeFirst()
        readyBytes &-= first.message.body.readableBytes
        if paged != nil, ready.count == paging.refillBelow &- 1 { ledger.wantPageIn.append(self) }
        return first
    }

    func loadAllPaged() {
        while paged != nil { pageIn() }
    }

    /// Reads the oldest paged-out messages back into memory (one batch).
    func pageIn() {
        guard var run = paged, let journal else { return }
        var cursor = run.cursor
        let messages = journal.read(queue: storeRef, from: run.firstSequence, cursor: &cursor, limit: paging.refillBatch)
        for message in messages {
            run.took(message)
            ready.append(ReadyMessage(sequence: message.sequence, redelivered: message.redelivered, message: message.message,
                                      expiresAt: message.expiresAt, enqueuedAt: lastUsed, stored: message.segment))
            readyBytes &+= message.message.body.readableBytes
        }
        run.cursor = cursor
        if run.count > 0 && messages.isEmpty {
            // The store lost the rest (it could not write them, or a record is corrupt):
            // stop looking, record them as gone (should their records be written later),
            // and stop keeping their segments.
            journal.removed(queue: storeRef, from: run.firstSequence, through: nextSequence &- 1)
            for (segment, count) in run.segments { journal.release(segment: segment, count: count) }
            paged = nil
        } else {
            paged = run.count > 0 ? run : nil
        }
    }

    /// The message left the queue for good: the store records it (or, once the queue is
    /// deleted, only stops counting it).
    func forget(_ sequence: UInt64, stored segment: UInt32) {
        guard segment != 0, let journal else { return }
        if isDeleted {
            journal.release(segment: segment, count: 1)
        } else {
            journal.removed(queue: storeRef, sequence: sequence, segment: segment)
        }
    }

    /// A delivery that must be acked: a crash before the ack brings it back redelivered.
    func noteDelivered(_ entry: ReadyMessage, noAck: Bool) {
        guard entry.stored != 0, let journal else { return }
        if noAck {
            forget(entry.sequence, stored: entry.stored)
        } else {
            journal.delivered(queue: storeRef, sequence: entry.sequence)
        }
    }

    func removeAllReady() -> Int {
        let count = readyCount
        stats.counters.purged &+= UInt64(count)
        if let journal {
            for entry in ready.inDeliveryOrder { forget(entry.sequence, stored: entry.stored) }
            if let run = paged {
                if !isDeleted, run.count > 0 {
                    journal.removed(queue: storeRef, from: run.firstSequence, through: nextSequence &- 1)
                }
                for (segment, count) in run.segments { journal.release(segment: segment, count: count) }
            }
        }
        paged = nil
        ready.removeAll()
        readyBytes = 0
        return count
    }

    /// How long a delivery from this queue may stay unacked (milliseconds).
    func consumerTimeout(default value: UInt64) -> UInt64 {
        policy.consumerTimeout ?? value
    }

    /// Dead-letters expired messages at the head of the queue (RabbitMQ expires messages
    /// when they reach the head).
    func expireHead(now: UInt64, into output: inout EngineOutput) {
        while let first = nextReady(), first.expiresAt < now {
            takeHead()
            forget(first.sequence, stored: first.stored)
            stats.counters.expired &+= 1
            deadLetter(first.message, .expired, into: &output)
        }
    }

    /// Hands the message to the router for the dead-letter exchange, or drops it.
    func deadLetter(_ message: LinkMessage, _ reason: DeadLetterReason, into output: inout EngineOutput) {
        guard let exchange = policy.deadLetterExchange else { return }
        stats.counters.deadLettered &+= 1
        output.deadLetter(DeadLetterEvent(queue: id, reason: reason, deadLetterExchange: exchange,
                                          deadLetterRoutingKey: policy.deadLetterRoutingKey, message: message))
    }

    /// Puts a delivered message back at its original position, marked redelivered.
    func requeue(sequence: UInt64, message: LinkMessage, deliveredAt: UInt64, stored: UInt32) {
        readyBytes &+= message.body.readableBytes
        stats.counters.requeued &+= 1
        ready.insert(ReadyMessage(sequence: sequence, redelivered: true, message: message, enqueuedAt: deliveredAt,
                                  stored: stored))
    }

    /// Adds a consumer after those of the same or higher priority (with a single active
    /// consumer, in subscription order only: a later consumer never takes over a live one,
    /// as in RabbitMQ 3.10).
    func addConsumer(_ consumer: EngineConsumer) {
        if let other = consumers.first, other.priority != consumer.priority { mixedPriorities = true }
        let index = policy.singleActiveConsumer ? consumers.count
            : consumers.firstIndex { $0.priority < consumer.priority } ?? consumers.count
        consumers.insert(consumer, at: index)
        if index < cursor { cursor += 1 }
    }

    func removeConsumer(_ consumer: EngineConsumer) {
        guard let index = consumers.firstIndex(where: { $0 === consumer }) else { return }
        consumers.remove(at: index)
        // Keep the round robin pointing at the consumer that was next.
        if index < cursor { cursor -= 1 }
        if cursor >= consumers.count { cursor = 0 }
        if consumers.isEmpty { mixedPriorities = false }
    }

    /// The consumer the next message goes to, if any may take one: with a single active
    /// consumer only the first subscribed; otherwise round-robin among the consumers of the
    /// highest priority that has one with capacity. A consumer held back only by its
    /// channel's global prefetch makes the channel ask the router for credit.
    func nextConsumerWithCapacity(into output: inout EngineOutput) -> EngineConsumer? {
        if policy.singleActiveConsumer {
            guard let first = consumers.first, first.hasCapacity(into: &output) else { return nil }
            return first
        }
        var start = 0
        while start < consumers.count {
            var end = consumers.count
            if mixedPriorities {
                let priority = consumers[start].priority
                end = start + 1
                while end < consumers.count, consumers[end].priority == priority { end += 1 }
            }
            var index = cursor >= start && cursor < end ? cursor : start
            for _ in start..<end {
                let consumer = consumers[index]
                index = index &+ 1 == end ? start : index &+ 1
                if consumer.hasCapacity(into: &output) {
                    cursor = index
                    return consumer
                }
            }
            start = end
        }
        return nil
    }
}
