// Reading a queue's paged-out messages back, in order, from where the queue left off.
import NIOCore
import PartitionEngine

extension MessageStore {
    public func read(queue ref: UInt32, from first: UInt64, cursor: inout JournalPosition, limit: Int) -> [JournalMessage] {
        // The records may still be in this tick's buffer. A failure is the worker's to report
        // (once); what could not be written is not found.
        try? writeBuffered()
        var found: [JournalMessage] = []
        while found.count < limit {
            guard let index = index(of: cursor.segment) else {
                // Deleted (nothing in it was wanted any more): go on with the next one.
                guard let oldest = segments.first, cursor.segment < oldest.number else { break }
                cursor = JournalPosition(segment: oldest.number, offset: UInt64(StoreFormat.segmentHeaderSize))
                continue
            }
            let segment = segments[index]
            var reader = SegmentReader(fd: segment.fd, path: path(segment.number), size: segment.size,
                                       offset: max(cursor.offset, UInt64(StoreFormat.segmentHeaderSize)))
            scan: while found.count < limit {
                switch reader.next() {
                case .record(.message(let queue, let sequence, let expires, let flags, let message)):
                    guard queue == ref, sequence >= first else { continue }
                    found.append(JournalMessage(sequence: sequence, expiresAt: engineTime(expires),
                                                redelivered: flags.contains(.redelivered), segment: segment.number,
                                                message: message))
                case .record:
                    continue
                case .end:
                    break scan
                case .damaged(let offset, let reason):
                    logger.error("cannot read a paged-out message", metadata: [
                        "file": "\(reader.path)", "offset": "\(offset)", "reason": "\(reason)"])
                    cursor.offset = segment.size
                    return found
                }
            }
            cursor.offset = reader.offset
            if found.count < limit {
                guard index < segments.count - 1 else { break }
                cursor = JournalPosition(segment: segments[index + 1].number, offset: UInt64(StoreFormat.segmentHeaderSize))
            }
        }
        return found
    }
}
