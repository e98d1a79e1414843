// Fair reading on a router event loop. A loop turn reads every readable client socket, up to
// 16 reads of up to 256 KiB each, and handles all of it before that turn's acks reach a worker
// and its deliveries reach a client. With twenty unthrottled publishers a turn lasted up to a
// second, and their consumers, whose credit comes back once a turn or two, got a few hundred
// messages a second (issue 19). So when three or more connections of a loop publish in bulk,
// each of them reads twice per turn at most, pieces sized to take its share of
// `contendedTurnNanoseconds` to handle, and the turn stays short for everyone else's acks.
// With one or two such publishers nothing changes: they read as before (NIO's adaptive
// sizing, pooled buffers, 16 reads a turn).
import NIOCore

/// Counts one event loop's bulk publishers and says how they read; touched only on its loop.
final class LoopReadShare: @unchecked Sendable {
    /// What a turn may spend on bulk publishers' reads while they contend.
    static let contendedTurnNanoseconds = 500_000.0
    /// Bulk publishers are counted over windows of 64 bulk reads, not of 10 ms: a turn that
    /// reads 16 × 256 KiB from each of ten publishers lasts a second when the cores are busy,
    /// and a 10 ms window then never saw more than one of them (issue 19). A window also ends
    /// after a second, so a trickle of bulk reads does not keep an old count; one that stops
    /// counting after at most two windows; a second with no bulk read forgets them all.
    static let windowReads = 64
    static let quietNanoseconds: UInt64 = 1_000_000_000
    static let contendedFrom = 3

    private var readsInWindow = 0
    private var windowStart: UInt64 = 0
    private var lastBulkRead: UInt64 = 0
    private var window: UInt64 = 1
    private var publishersNow = 0
    private var publishersBefore = 0
    /// Each bulk publisher's time per read while they contend, else nil.
    private(set) var contendedNanosecondsPerRead: Double?

    /// A connection read at `now`; `bulkPublisher` if its read filled a buffer of at least
    /// `ReadPacing.minimumRead` and held publishes. `lastWindow` is the window that connection
    /// last counted in.
    func observe(now: UInt64, bulkPublisher: Bool, lastWindow: inout UInt64) {
        if now &- lastBulkRead >= Self.quietNanoseconds, publishersNow + publishersBefore > 0 {
            nextWindow(at: now)
            publishersBefore = 0
            update()
        }
        guard bulkPublisher else { return }
        lastBulkRead = now
        if now &- windowStart >= Self.quietNanoseconds { nextWindow(at: now) }
        if lastWindow != window {
            lastWindow = window
            publishersNow += 1
        }
        readsInWindow += 1
        if readsInWindow >= Self.windowReads { nextWindow(at: now) }
        update()
    }

    private func nextWindow(at now: UInt64) {
        publishersBefore = publishersNow
        publishersNow = 0
        readsInWindow = 0
        windowStart = now
        window &+= 1
    }

    private func update() {
        let publishers = max(publishersNow, publishersBefore)
        contendedNanosecondsPerRead = publishers < Self.contendedFrom
            ? nil : Self.contendedTurnNanoseconds / Double(publishers * ReadPacing.contendedReadsPerTurn)
    }
}

/// One client connection's reads, kept by its handler from how long each read took to handle
/// and used by its allocator; both live on the connection's event loop.
final class ReadPacing: @unchecked Sendable {
    static let readsPerTurn = 16
    static let contendedReadsPerTurn = 2
    static let minimumRead = 4 << 10
    static let maximumRead = 256 << 10

    let share: LoopReadShare
    /// Handling time per byte received, smoothed over the last few reads.
    private var nanosecondsPerByte = 10.0
    private var lastWindow: UInt64 = 0
    /// The size of the next read while the loop's publishers contend: a power of two, since
    /// NIO rounds a buffer's capacity up to one and reads into all of it.
    private(set) var contendedReadSize: Int?

    init(share: LoopReadShare) {
        self.share = share
    }

    /// Reads per turn for the socket: 16, or 2 while the loop's publishers contend.
    var readsPerTurn: Int { contendedReadSize == nil ? Self.readsPerTurn : Self.contendedReadsPerTurn }

    /// A read of `bytes` took from `start` to `end` to handle; `filled` if it filled its buffer
    /// (more may be waiting), `published` if it held publishes. Returns the socket's new reads
    /// per turn when they change.
    func record(bytes: Int, filled: Bool, published: Bool, start: UInt64, end: UInt64) -> Int? {
        if bytes > 0 {
            let sample = Double(end &- start) / Double(bytes)
            nanosecondsPerByte += (sample - nanosecondsPerByte) / 4
        }
        share.observe(now: end, bulkPublisher: filled && published && bytes >= Self.minimumRead, lastWindow: &lastWindow)
        let readsBefore = readsPerTurn
        contendedReadSize = share.contendedNanosecondsPerRead.map { budget in
            let size = min(Self.maximumRead, max(Self.minimumRead, Int(budget / max(nanosecondsPerByte, 0.01))))
            return 1 << (Int.bitWidth - 1 - size.leadingZeroBitCount)  // rounded down
        }
        return readsPerTurn == readsBefore ? nil : readsPerTurn
    }
}

/// Uncontended, NIO's adaptive sizing as before. Contended, buffers of exactly the paced size,
/// always new: NIO's pool would reuse a larger one and read into all of it. (The pool keeps the
/// buffers it already holds, at most two once reads per turn are down to two, and the first
/// contended read may still use its last one.)
struct PacedRecvAllocator: RecvByteBufferAllocator {
    let pacing: ReadPacing
    private var adaptive = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: ReadPacing.maximumRead)

    init(pacing: ReadPacing) {
        self.pacing = pacing
    }

    func nextBufferSize() -> Int? {
        pacing.contendedReadSize == nil ? adaptive.nextBufferSize() : nil
    }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let size = pacing.contendedReadSize else { return adaptive.buffer(allocator: allocator) }
        return allocator.buffer(capacity: size)
    }

    mutating func record(actualReadBytes: Int) -> Bool {
        let mayGrow = adaptive.record(actualReadBytes: actualReadBytes)
        return pacing.contendedReadSize == nil ? mayGrow : true
    }
}
