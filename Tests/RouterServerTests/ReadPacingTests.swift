// When a loop's bulk publishers contend, and how large their reads then are.
import NIOCore
import Testing
@testable import RouterServer

@Suite("ReadPacing")
struct ReadPacingTests {
    /// A read of `bytes` handled at 10 ns a byte, ending at `now` (ns); the new reads per turn.
    @discardableResult
    func read(_ pacing: ReadPacing, bytes: Int = 64 << 10, filled: Bool = true, published: Bool = true, at now: UInt64) -> Int? {
        pacing.record(bytes: bytes, filled: filled, published: published, start: now - UInt64(10 * bytes), end: now)
    }

    @Test func oneOrTwoBulkPublishersReadAsBefore() {
        let share = LoopReadShare()
        let publishers = [ReadPacing(share: share), ReadPacing(share: share)]
        for pacing in publishers { read(pacing, at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead == nil)
        #expect(publishers.allSatisfy { $0.contendedReadSize == nil })
        // Uncontended, the allocator is NIO's adaptive one: it names a size for the pool.
        #expect(PacedRecvAllocator(pacing: publishers[0]).nextBufferSize() != nil)
    }

    @Test func threeBulkPublishersShareATurnInPowerOfTwoPieces() {
        let share = LoopReadShare()
        let publishers = (0..<3).map { _ in ReadPacing(share: share) }
        #expect(read(publishers[0], at: 20_000_000) == nil)
        #expect(read(publishers[1], at: 20_000_000) == nil)
        #expect(read(publishers[2], at: 20_000_000) == ReadPacing.contendedReadsPerTurn)
        #expect(publishers[2].readsPerTurn == ReadPacing.contendedReadsPerTurn)
        let perRead = share.contendedNanosecondsPerRead
        #expect(perRead != nil && perRead! < LoopReadShare.contendedTurnNanoseconds / 3)
        read(publishers[0], at: 20_000_100)
        // About 83 µs at 10 ns a byte: 8,333 bytes, rounded down to 8 KiB.
        #expect(publishers[0].contendedReadSize == 8 << 10)
        let allocator = PacedRecvAllocator(pacing: publishers[0])
        #expect(allocator.nextBufferSize() == nil)  // the pool must not reuse a larger buffer
        #expect(allocator.buffer(allocator: ByteBufferAllocator()).capacity == 8 << 10)
    }

    @Test func readsThatDoNotFillTheirBufferOrHoldNoPublishesDoNotCount() {
        let share = LoopReadShare()
        for _ in 0..<5 { read(ReadPacing(share: share), filled: false, at: 20_000_000) }
        for _ in 0..<5 { read(ReadPacing(share: share), published: false, at: 20_000_000) }
        for _ in 0..<5 { read(ReadPacing(share: share), bytes: 2048, at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead == nil)
    }

    @Test func publishersThatStopNoLongerCountAfterTwoWindows() {
        let share = LoopReadShare()
        for _ in 0..<4 { read(ReadPacing(share: share), at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead != nil)
        // One publisher goes on alone: the rest of this window and all of the next still
        // remember four; the window after that counts only it.
        let alone = ReadPacing(share: share)
        for _ in 0..<(2 * LoopReadShare.windowReads - 5) { read(alone, at: 31_000_000) }
        #expect(share.contendedNanosecondsPerRead != nil)
        #expect(read(alone, at: 42_000_000) == ReadPacing.readsPerTurn)
        #expect(share.contendedNanosecondsPerRead == nil)
        #expect(alone.contendedReadSize == nil)
    }

    @Test func publishersAreCountedOverReadsNotTime() {
        // Each publisher's reads take 100 ms of wall time (a starved loop): still contended.
        let share = LoopReadShare()
        let publishers = (0..<3).map { _ in ReadPacing(share: share) }
        var now: UInt64 = 20_000_000
        for pacing in publishers {
            now += 100_000_000
            read(pacing, at: now)
        }
        #expect(share.contendedNanosecondsPerRead != nil)
    }

    @Test func aTrickleOfBulkReadsDoesNotKeepAnOldCount() {
        let share = LoopReadShare()
        for _ in 0..<4 { read(ReadPacing(share: share), at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead != nil)
        // One publisher, a bulk read every half second: windows end by time, the count fades.
        let alone = ReadPacing(share: share)
        for step in 1...5 { read(alone, at: 20_000_000 + UInt64(step) * 500_000_000) }
        #expect(share.contendedNanosecondsPerRead == nil)
    }

    @Test func aPublisherAfterAQuietGapIsNotPacedByOldCounts() {
        let share = LoopReadShare()
        for _ in 0..<4 { read(ReadPacing(share: share), at: 20_000_000) }
        #expect(share.contendedNanosecondsPerRead != nil)
        read(ReadPacing(share: share), at: 300_000_000_000)
        #expect(share.contendedNanosecondsPerRead == nil)
    }
}
