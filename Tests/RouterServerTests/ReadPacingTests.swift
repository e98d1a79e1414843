// When a loop's bulk publishers contend, and how large their reads then are.
import NIOCore
import Testing
@testable import RouterServer

@Suite("ReadPacing")
struct ReadPacingTests {
    /// A connection that read `bytes` in a buffer it filled, handling them at 10 ns a byte.
    func fullRead(_ pacing: ReadPacing, bytes: Int = 64 << 10, published: Bool = true, at now: UInt64) {
        var allocator = PacedRecvAllocator(pacing: pacing)
        _ = allocator.nextBufferSize()
        let offered = allocator.buffer(allocator: ByteBufferAllocator()).capacity
        _ = allocator.record(actualReadBytes: offered)
        pacing.record(bytes: max(bytes, offered), published: published, start: now, end: now + UInt64(10 * max(bytes, offered)))
    }

    @Test func oneOrTwoBulkPublishersReadAsBefore() {
        let share = LoopReadShare()
        let publishers = [ReadPacing(share: share), ReadPacing(share: share)]
        for pacing in publishers { fullRead(pacing, at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead == nil)
        #expect(publishers.allSatisfy { $0.contendedReadSize == nil })
    }

    @Test func threeBulkPublishersShareATurn() {
        let share = LoopReadShare()
        let publishers = (0..<3).map { _ in ReadPacing(share: share) }
        for pacing in publishers { fullRead(pacing, at: 20_000_000) }
        // 500 µs a turn over 3 publishers × 2 reads: about 83 µs a read.
        #expect(share.contendedNanosecondsPerRead == 500_000.0 / 6)
        fullRead(publishers[0], at: 20_000_100)
        let size = publishers[0].contendedReadSize
        #expect(size != nil && size! >= ReadPacing.minimumRead && size! < 64 << 10)
    }

    @Test func consumersAckingInBulkDoNotCount() {
        let share = LoopReadShare()
        for _ in 0..<5 { fullRead(ReadPacing(share: share), published: false, at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead == nil)
    }

    @Test func publishersThatStopNoLongerCountAfterTwoWindows() {
        let share = LoopReadShare()
        for _ in 0..<4 { fullRead(ReadPacing(share: share), at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead != nil)
        // One publisher goes on alone: the next window still remembers four, the one after not.
        let alone = ReadPacing(share: share)
        fullRead(alone, at: 31_000_000)
        #expect(share.contendedNanosecondsPerRead != nil)
        fullRead(alone, at: 42_000_000)
        #expect(share.contendedNanosecondsPerRead == nil)
        fullRead(alone, at: 42_000_100)
        #expect(alone.contendedReadSize == nil)
    }
}
