// The on-disk format of a partition's store (Docs/storage.md): segment files of records,
// each record framed by its length and a CRC-32C of its payload, so that a torn or corrupt
// record is recognised and dropped at recovery. Integers are big-endian.
import CCRC32C
import LinkWire
import NIOCore

enum StoreFormat {
    /// Raised when the format changes; a later version still reads this one.
    static let version: UInt16 = 1
    static let segmentMagic: [UInt8] = Array("BRKSTORE".utf8)
    /// magic, version, reserved, partition, partitions, segment number.
    static let segmentHeaderSize = 24
    /// payload length + CRC-32C of the payload.
    static let recordHeaderSize = 8
    /// A record larger than this is corrupt (the link refuses larger bodies anyway).
    static let maxRecordSize = 600 << 20
}

/// What a record says.
enum RecordKind: UInt8 {
    /// A message of a queue: queue, sequence, expiry (wall-clock ms, 0 never), flags,
    /// exchange, routing key, properties, body.
    case message = 1
    /// The message was delivered to a consumer that must ack it: queue, sequence.
    case delivered = 2
    /// The message is gone: queue, sequence.
    case removed = 3
    /// Every message of the queue in a range of sequences is gone: queue, first, last.
    case removedRange = 4
}

struct MessageFlags: OptionSet {
    let rawValue: UInt8
    /// Recovered after a restart (a paged-out transient message is not).
    static let persistent = MessageFlags(rawValue: 1)
    /// Delivered before: comes back with `redelivered` set.
    static let redelivered = MessageFlags(rawValue: 2)
}

/// One decoded record.
enum StoreRecord {
    case message(queue: UInt32, sequence: UInt64, expiresAtWall: UInt64, flags: MessageFlags, message: LinkMessage)
    case delivered(queue: UInt32, sequence: UInt64)
    case removed(queue: UInt32, sequence: UInt64)
    case removedRange(queue: UInt32, first: UInt64, last: UInt64)
}

enum RecordCodec {
    static func checksum(_ buffer: ByteBuffer) -> UInt32 {
        buffer.withUnsafeReadableBytes { broker_crc32c(0, $0.baseAddress, $0.count) }
    }

    /// Appends a framed record; `body` writes the payload.
    static func write(into buffer: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt32(0))
        body(&buffer)
        let length = buffer.writerIndex - start - StoreFormat.recordHeaderSize
        let crc = buffer.getSlice(at: start + StoreFormat.recordHeaderSize, length: length).map(checksum) ?? 0
        buffer.setInteger(UInt32(length), at: start)
        buffer.setInteger(crc, at: start + 4)
    }

    static func writeMessage(into buffer: inout ByteBuffer, queue: UInt32, sequence: UInt64, expiresAtWall: UInt64,
                             flags: MessageFlags, message: LinkMessage) {
        write(into: &buffer) { payload in
            payload.writeInteger(RecordKind.message.rawValue)
            payload.writeInteger(queue)
            payload.writeInteger(sequence)
            payload.writeInteger(expiresAtWall)
            payload.writeInteger(flags.rawValue)
            writeShortString(message.exchange, into: &payload)
            writeShortString(message.routingKey, into: &payload)
            payload.writeInteger(UInt32(message.properties.readableBytes))
            payload.writeImmutableBuffer(message.properties)
            payload.writeInteger(UInt32(message.body.readableBytes))
            payload.writeImmutableBuffer(message.body)
        }
    }

    static func writeMarker(into buffer: inout ByteBuffer, _ kind: RecordKind, queue: UInt32, sequence: UInt64) {
        write(into: &buffer) { payload in
            payload.writeInteger(kind.rawValue)
            payload.writeInteger(queue)
            payload.writeInteger(sequence)
        }
    }

    static func writeRange(into buffer: inout ByteBuffer, queue: UInt32, first: UInt64, last: UInt64) {
        write(into: &buffer) { payload in
            payload.writeInteger(RecordKind.removedRange.rawValue)
            payload.writeInteger(queue)
            payload.writeInteger(first)
            payload.writeInteger(last)
        }
    }

    private static func writeShortString(_ string: String, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt8(0))
        let count = buffer.writeString(string)
        buffer.setInteger(UInt8(clamping: count), at: start)
    }

    /// What reading the next record found.
    enum Next {
        case record(StoreRecord, size: Int)
        /// The buffer ends inside a record that claims `size` bytes in all.
        case incomplete(size: Int)
        /// A record whose frame or checksum is wrong.
        case corrupt(String)
    }

    /// Reads the record at the start of `buffer` (which it does not move).
    static func next(in buffer: ByteBuffer) -> Next {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              let crc = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self) else {
            return .incomplete(size: StoreFormat.recordHeaderSize)
        }
        guard length > 0, Int(length) <= StoreFormat.maxRecordSize else { return .corrupt("record length \(length)") }
        let size = StoreFormat.recordHeaderSize + Int(length)
        guard var payload = buffer.getSlice(at: buffer.readerIndex + StoreFormat.recordHeaderSize, length: Int(length)) else {
            return .incomplete(size: size)
        }
        guard checksum(payload) == crc else { return .corrupt("checksum mismatch") }
        guard let record = decode(&payload) else { return .corrupt("malformed payload") }
        return .record(record, size: size)
    }

    private static func decode(_ payload: inout ByteBuffer) -> StoreRecord? {
        guard let raw = payload.readInteger(as: UInt8.self), let kind = RecordKind(rawValue: raw),
              let queue = payload.readInteger(as: UInt32.self) else { return nil }
        switch kind {
        case .message:
            guard let sequence = payload.readInteger(as: UInt64.self), let expires = payload.readInteger(as: UInt64.self),
                  let flags = payload.readInteger(as: UInt8.self), let exchange = readShortString(&payload),
                  let routingKey = readShortString(&payload), let propertiesLength = payload.readInteger(as: UInt32.self),
                  let properties = payload.readSlice(length: Int(propertiesLength)),
                  let bodyLength = payload.readInteger(as: UInt32.self), let body = payload.readSlice(length: Int(bodyLength))
            else { return nil }
            return .message(queue: queue, sequence: sequence, expiresAtWall: expires, flags: MessageFlags(rawValue: flags),
                            message: LinkMessage(exchange: exchange, routingKey: routingKey, properties: properties, body: body))
        case .delivered, .removed:
            guard let sequence = payload.readInteger(as: UInt64.self) else { return nil }
            return kind == .delivered ? .delivered(queue: queue, sequence: sequence) : .removed(queue: queue, sequence: sequence)
        case .removedRange:
            guard let first = payload.readInteger(as: UInt64.self), let last = payload.readInteger(as: UInt64.self) else { return nil }
            return .removedRange(queue: queue, first: first, last: last)
        }
    }

    private static func readShortString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt8.self) else { return nil }
        return buffer.readString(length: Int(length))
    }

    /// The header every segment file starts with.
    static func segmentHeader(partition: Int, partitions: Int, segment: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(StoreFormat.segmentMagic)
        buffer.writeInteger(StoreFormat.version)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(UInt32(partition))
        buffer.writeInteger(UInt32(partitions))
        buffer.writeInteger(segment)
        return buffer
    }

    /// Checks a segment header; returns why it is not one this version reads.
    static func headerProblem(_ buffer: ByteBuffer, partition: Int) -> String? {
        guard buffer.readableBytes >= StoreFormat.segmentHeaderSize,
              buffer.getBytes(at: buffer.readerIndex, length: 8) == StoreFormat.segmentMagic else { return "not a segment file" }
        guard let version = buffer.getInteger(at: buffer.readerIndex + 8, as: UInt16.self), version <= StoreFormat.version else {
            return "written by a newer format version"
        }
        guard buffer.getInteger(at: buffer.readerIndex + 12, as: UInt32.self) == UInt32(partition) else {
            return "belongs to another partition"
        }
        return nil
    }
}
