// What the engine asks of the partition's message store (invariant 7). The engine decides
// what to record: the definitions of durable queues, their persistent messages, deliveries
// (so that a crash brings unacked messages back redelivered) and removals; and, to bound
// memory, it pages a long queue's newest messages out to the store and reads them back in
// order. The worker supplies the file-backed store (module MessageStore); without one
// (tests, or no data directory) everything stays in memory.
import BrokerModel
import LinkWire
import NIOCore

/// A place in the store: a segment and a byte offset in it.
public struct JournalPosition: Hashable, Sendable {
    public var segment: UInt32
    public var offset: UInt64

    public init(segment: UInt32, offset: UInt64) {
        self.segment = segment
        self.offset = offset
    }
}

/// A durable queue's definition, as the store keeps it; or an x-delayed-message exchange
/// whose persistent delayed messages the store keeps (`id.name` is then the exchange's name).
/// A non-durable or exclusive queue is in the store only after a handover wrote it there
/// (`isCarried`), and only until the worker's next restart.
public struct JournalQueue: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case queue
        case delayedExchange
    }

    public var id: QueueID
    public var autoDelete: Bool
    public var arguments: ByteBuffer
    public var kind: Kind
    public var durable: Bool
    /// The connection that declared an exclusive queue.
    public var exclusiveOwner: ConnectionID?

    public init(id: QueueID, autoDelete: Bool, arguments: ByteBuffer, kind: Kind = .queue, durable: Bool = true,
                exclusiveOwner: ConnectionID? = nil) {
        self.id = id
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.kind = kind
        self.durable = durable
        self.exclusiveOwner = exclusiveOwner
    }

    /// A queue that lives in memory, written to the store by a handover.
    public var isCarried: Bool { !durable || exclusiveOwner != nil }
}

/// A message read back from the store.
public struct JournalMessage: Sendable {
    public var sequence: UInt64
    /// Engine milliseconds; `.max` for never.
    public var expiresAt: UInt64
    public var redelivered: Bool
    public var segment: UInt32
    public var message: LinkMessage

    public init(sequence: UInt64, expiresAt: UInt64, redelivered: Bool, segment: UInt32, message: LinkMessage) {
        self.sequence = sequence
        self.expiresAt = expiresAt
        self.redelivered = redelivered
        self.segment = segment
        self.message = message
    }
}

/// The messages of one queue that are on disk only: those with a sequence of at least
/// `firstSequence`, found by reading forward from `cursor`.
public struct PagedRun: Sendable {
    public var count = 0
    public var bytes = 0
    public var firstSequence: UInt64
    public var cursor: JournalPosition
    /// How many of the run's messages each segment holds, oldest first (to release them
    /// when the queue is purged or deleted).
    public var segments: [(segment: UInt32, count: Int)] = []

    public init(firstSequence: UInt64, cursor: JournalPosition) {
        self.firstSequence = firstSequence
        self.cursor = cursor
    }

    public mutating func added(segment: UInt32, bytes: Int) {
        count &+= 1
        self.bytes &+= bytes
        if let last = segments.last, last.segment == segment {
            segments[segments.count - 1].count &+= 1
        } else {
            segments.append((segment, 1))
        }
    }

    public mutating func took(_ message: JournalMessage) {
        count &-= 1
        bytes &-= message.message.body.readableBytes
        firstSequence = message.sequence &+ 1
        if !segments.isEmpty {
            segments[0].count &-= 1
            if segments[0].count <= 0 { segments.removeFirst() }
        }
    }
}

public protocol PartitionJournal: AnyObject {
    /// Records queues (a durable one, or a handover's carried ones) with one write; returns
    /// the numbers their records carry, in order (0 for none, if the store cannot write).
    func queuesDeclared(_ queues: [JournalQueue]) -> [UInt32]
    /// Forgets a durable queue: its records no longer count.
    func queueDeleted(_ ref: UInt32)
    /// Appends a message of queue `ref`; returns the segment it went to. `persistent` false:
    /// only paged out, not recovered after a restart.
    func append(_ message: LinkMessage, queue ref: UInt32, sequence: UInt64, expiresAt: UInt64,
                redelivered: Bool, persistent: Bool) -> UInt32
    /// Where the next append will go.
    var appendPosition: JournalPosition { get }
    /// The message was handed to a consumer that must ack it.
    func delivered(queue ref: UInt32, sequence: UInt64)
    /// The message is gone (acked, dropped, expired, purged).
    func removed(queue ref: UInt32, sequence: UInt64, segment: UInt32)
    /// Every message of the queue from `first` up to `last` is gone (a purge of a paged run).
    func removed(queue ref: UInt32, from first: UInt64, through last: UInt64)
    /// `count` messages of `segment` no longer need it (their queue was deleted or purged).
    func release(segment: UInt32, count: Int)
    /// Reads up to `limit` messages of queue `ref` with a sequence of at least `from`,
    /// forward from `cursor`, which it advances.
    func read(queue ref: UInt32, from: UInt64, cursor: inout JournalPosition, limit: Int) -> [JournalMessage]
    /// Before a handover: makes everything recorded durable, and marks the store so that its
    /// next recovery (the new owner's) keeps the transient messages and carried queues too,
    /// once.
    func carryOver() throws
}

extension PartitionJournal {
    /// Records a durable queue; returns the number its records carry.
    public func queueDeclared(_ queue: JournalQueue) -> UInt32 { queuesDeclared([queue])[0] }
}

/// When a queue of a store keeps its newest messages on disk only, and how it reads them back.
public struct PagingLimits: Sendable {
    /// Page out once this many messages, or bytes of bodies, are ready in memory.
    public var pageAboveCount = 20_000
    public var pageAboveBytes = 8 << 20
    /// Read back when fewer than this many are ready in memory, this many at a time.
    public var refillBelow = 2_000
    public var refillBatch = 4_000

    public init() {}

    public init(pageAboveCount: Int, pageAboveBytes: Int, refillBelow: Int, refillBatch: Int) {
        self.pageAboveCount = pageAboveCount
        self.pageAboveBytes = pageAboveBytes
        self.refillBelow = refillBelow
        self.refillBatch = refillBatch
    }
}
