// Messages published to an x-delayed-message exchange, held until their delay has passed
// and then handed back to the router to be routed (as RabbitMQ's delayed-message plugin
// does, but in a heap per partition: O(log n) per message however many are pending).
import BrokerModel
import HeapModule
import LinkWire
import NIOCore

/// A delayed message ordered by due time, then by arrival.
struct DelayedMessage: Comparable {
    var dueAt: UInt64
    var sequence: UInt64
    var vhost: VHost
    var message: LinkMessage
    /// The store's number for the message's exchange, and the segment holding the message
    /// (0: in memory only).
    var ref: UInt32 = 0
    var stored: UInt32 = 0

    static func < (a: DelayedMessage, b: DelayedMessage) -> Bool {
        (a.dueAt, a.sequence) < (b.dueAt, b.sequence)
    }

    static func == (a: DelayedMessage, b: DelayedMessage) -> Bool {
        a.dueAt == b.dueAt && a.sequence == b.sequence
    }
}

extension PartitionEngine {
    /// Keeps the message and confirms it: it is this worker's from now on. A persistent one
    /// goes to the store too (as the plugin keeps delayed messages on disk), and its confirm
    /// waits for the store's sync.
    mutating func delay(_ request: DelayRequest, from connection: ConnectionID, into output: inout EngineOutput) {
        var entry = DelayedMessage(dueAt: now &+ request.delay, sequence: nextDelayedSequence, vhost: request.vhost,
                                   message: request.message)
        nextDelayedSequence &+= 1
        if let journal, request.message.isPersistent {
            entry.ref = delayedExchangeRef(QueueID(vhost: request.vhost, name: QueueName(request.message.exchange)), journal)
            entry.stored = journal.append(request.message, queue: entry.ref, sequence: entry.sequence, expiresAt: entry.dueAt,
                                          redelivered: false, persistent: true)
        }
        delayed.insert(entry)
        guard request.confirmSequence != 0 else { return }
        let event = WorkerEvent.accepted(channel: request.channel, confirmSequence: request.confirmSequence)
        if entry.stored != 0 {
            output.sendAfterSync(event, to: connection)
        } else {
            output.send(event, to: connection)
        }
    }

    /// The store's number for a delayed exchange's messages, recorded the first time.
    mutating func delayedExchangeRef(_ exchange: QueueID, _ journal: PartitionJournal) -> UInt32 {
        if let ref = delayedRefs[exchange] { return ref }
        let ref = journal.queueDeclared(JournalQueue(id: exchange, autoDelete: false, arguments: ByteBuffer(),
                                                     kind: .delayedExchange))
        delayedRefs[exchange] = ref
        return ref
    }

    /// Puts the delayed messages of an exchange that the store recovered back in the heap;
    /// they fall due at the (wall-clock) time they were due before the restart.
    public mutating func restoreDelayed(_ exchange: JournalQueue, ref: UInt32, run: PagedRun?, nextSequence: UInt64) {
        delayedRefs[exchange.id] = ref
        nextDelayedSequence = max(nextDelayedSequence, nextSequence)
        guard let journal, let run, run.count > 0 else { return }
        var cursor = run.cursor
        for message in journal.read(queue: ref, from: run.firstSequence, cursor: &cursor, limit: run.count) {
            delayed.insert(DelayedMessage(dueAt: message.expiresAt, sequence: message.sequence, vhost: exchange.id.vhost,
                                          message: message.message, ref: ref, stored: message.segment))
        }
    }

    /// Hands every due message to the router, earliest first.
    mutating func releaseDueMessages(into output: inout EngineOutput) {
        while let next = delayed.min, next.dueAt <= now {
            let due = delayed.removeMin()
            // At most once, as the plugin: gone from the store as it goes to the router.
            if due.stored != 0 { journal?.removed(queue: due.ref, sequence: due.sequence, segment: due.stored) }
            output.routeAgain(.delayedDue(vhost: due.vhost, message: due.message))
        }
    }

    /// How many delayed messages the partition holds.
    public var delayedCount: Int { delayed.count }
}
