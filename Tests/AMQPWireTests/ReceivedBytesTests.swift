import AMQPWire
import NIOCore
import Testing

@Suite("ReceivedBytes")
struct ReceivedBytesTests {
    /// The address of the first readable byte, to tell a slice of a chunk from a copy.
    static func address(_ buffer: ByteBuffer) -> UInt {
        buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    }

    @Test("a unit split between chunks is joined from only its own bytes; the rest stays in the chunk")
    func joinsOnlyTheStraddlingUnit() {
        var received = ReceivedBytes()
        received.append(ByteBuffer(bytes: [1, 2, 3]))
        let second = ByteBuffer(bytes: [4, 5, 6, 7, 8, 9])
        received.append(second)
        #expect(received.readableBytes == 9)
        let ok5 = received.ensureReadable(5); #expect(ok5)
        let first = received.head.readBytes(length: 5)!
        #expect(first == [1, 2, 3, 4, 5])
        let ok4 = received.ensureReadable(4); #expect(ok4)
        #expect(Self.address(received.head) == Self.address(second) + 2)
        #expect(received.head.getBytes(at: received.head.readerIndex, length: 4)! == [6, 7, 8, 9])
        received.head.moveReaderIndex(forwardBy: 4)
        let more = received.ensureReadable(1); #expect(!more)
    }

    @Test("a unit longer than many chunks is joined once it has all arrived, in order")
    func joinsAcrossManyChunks() {
        var received = ReceivedBytes()
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        var fed = 0
        var complete = false
        while fed < bytes.count {
            received.append(ByteBuffer(bytes: bytes[fed..<min(fed + 7, bytes.count)]))
            fed += 7
            complete = received.ensureReadable(1000)
            #expect(complete == (fed >= 1000))
        }
        #expect(received.head.getBytes(at: received.head.readerIndex, length: 1000)! == bytes)
    }

    @Test("slices handed out before a join keep their bytes")
    func earlierSlicesSurvive() {
        var received = ReceivedBytes()
        received.append(ByteBuffer(bytes: [1, 2, 3, 4]))
        let ok2 = received.ensureReadable(2); #expect(ok2)
        let slice = received.head.readSlice(length: 2)!
        received.append(ByteBuffer(bytes: [5, 6]))
        let ok4 = received.ensureReadable(4); #expect(ok4)
        #expect(received.head.getBytes(at: received.head.readerIndex, length: 4)! == [3, 4, 5, 6])
        #expect(Array(slice.readableBytesView) == [1, 2])
    }
}
