// Reads a segment file's records forward in large chunks (one pread for many records), for
// recovery and for reading paged-out messages back.
import NIOCore
import SystemFiles

struct SegmentReader {
    let fd: Int32
    let path: String
    /// Bytes on the file.
    let size: UInt64
    /// Where the next record starts.
    var offset: UInt64
    private var chunk = ByteBuffer()
    private var chunkStart: UInt64 = 0
    static let chunkSize = 1 << 20

    init(fd: Int32, path: String, size: UInt64, offset: UInt64) {
        self.fd = fd
        self.path = path
        self.size = size
        self.offset = offset
    }

    enum Step {
        case record(StoreRecord)
        case end
        /// The rest of the file cannot be read: a torn or corrupt record at `offset`.
        case damaged(offset: UInt64, reason: String)
    }

    /// The record at `offset`, advancing past it.
    mutating func next() -> Step {
        guard offset < size else { return .end }
        var wanted = StoreFormat.recordHeaderSize
        while true {
            let available = chunkStart + UInt64(chunk.writerIndex)
            if offset < chunkStart || offset + UInt64(wanted) > available {
                guard offset + UInt64(wanted) <= size else {
                    return .damaged(offset: offset, reason: "torn record (the file ends inside it)")
                }
                chunkStart = offset
                chunk = Files.read(fd, at: offset, length: max(Self.chunkSize, wanted))
            }
            var view = chunk
            view.moveReaderIndex(to: Int(offset - chunkStart))
            switch RecordCodec.next(in: view) {
            case .record(let record, let recordSize):
                offset += UInt64(recordSize)
                return .record(record)
            case .incomplete(let needed):
                guard needed > wanted || offset + UInt64(needed) > chunkStart + UInt64(chunk.writerIndex) else {
                    return .damaged(offset: offset, reason: "unreadable record")
                }
                if offset + UInt64(needed) > size {
                    return .damaged(offset: offset, reason: "torn record (the file ends inside it)")
                }
                wanted = needed
                chunk = ByteBuffer()
            case .corrupt(let reason):
                return .damaged(offset: offset, reason: reason)
            }
        }
    }
}
