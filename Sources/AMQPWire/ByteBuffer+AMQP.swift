// AMQP primitive types on ByteBuffer (spec 4.2.5): big-endian integers, short strings
// (octet length, at most 255 bytes) and long strings (uint32 length). Readers never trap:
// a length that overruns the buffer throws a 502 syntax error.
import NIOCore

extension ByteBuffer {
    mutating func readAMQPOctet() throws(AMQPWireError) -> UInt8 {
        guard let v = readInteger(as: UInt8.self) else { throw .truncated("octet") }
        return v
    }

    mutating func readAMQPShort() throws(AMQPWireError) -> UInt16 {
        guard let v = readInteger(as: UInt16.self) else { throw .truncated("short") }
        return v
    }

    mutating func readAMQPLong() throws(AMQPWireError) -> UInt32 {
        guard let v = readInteger(as: UInt32.self) else { throw .truncated("long") }
        return v
    }

    mutating func readAMQPLongLong() throws(AMQPWireError) -> UInt64 {
        guard let v = readInteger(as: UInt64.self) else { throw .truncated("longlong") }
        return v
    }

    /// Reads a short string: one length octet, then that many bytes as UTF-8 (invalid
    /// sequences are replaced, as `String(decoding:as:)` does).
    /// - Throws: ``AMQPWireError`` (502) when the bytes run out.
    public mutating func readShortString() throws(AMQPWireError) -> String {
        guard let length = getInteger(at: readerIndex, as: UInt8.self),
              readableBytes >= 1 + Int(length) else { throw .truncated("short string") }
        moveReaderIndex(forwardBy: 1)
        return readString(length: Int(length))!
    }

    /// Writes a short string. Longer than 255 UTF-8 bytes, it is cut at the last whole
    /// character that fits (RabbitMQ would refuse to encode it; a reply text built from a
    /// long queue name must still go out).
    public mutating func writeShortString(_ string: String) {
        let count = string.utf8.count
        if count <= 255 {
            writeInteger(UInt8(truncatingIfNeeded: count))
            writeString(string)
            return
        }
        var end = string.utf8.index(string.utf8.startIndex, offsetBy: 255)
        // Step back over UTF-8 continuation bytes (0b10xxxxxx) so no character is split.
        while end > string.utf8.startIndex && string.utf8[end] & 0xC0 == 0x80 {
            end = string.utf8.index(before: end)
        }
        let prefix = string.utf8[..<end]
        writeInteger(UInt8(prefix.count))
        writeBytes(prefix)
    }

    /// Reads a long string: a uint32 length, then that many bytes.
    /// - Throws: ``AMQPWireError`` (502) when the bytes run out.
    public mutating func readLongString() throws(AMQPWireError) -> [UInt8] {
        guard let length = getInteger(at: readerIndex, as: UInt32.self),
              UInt64(readableBytes) >= 4 + UInt64(length) else { throw .truncated("long string") }
        moveReaderIndex(forwardBy: 4)
        return readBytes(length: Int(length))!
    }

    /// Reads a long string as UTF-8 text.
    public mutating func readLongStringAsString() throws(AMQPWireError) -> String {
        guard let length = getInteger(at: readerIndex, as: UInt32.self),
              UInt64(readableBytes) >= 4 + UInt64(length) else { throw .truncated("long string") }
        moveReaderIndex(forwardBy: 4)
        return readString(length: Int(length))!
    }

    /// Writes a long string: a uint32 length, then the bytes.
    public mutating func writeLongString(_ bytes: [UInt8]) {
        writeInteger(UInt32(truncatingIfNeeded: bytes.count))
        writeBytes(bytes)
    }

    /// Writes a string as a long string (uint32 length, then its UTF-8 bytes).
    public mutating func writeLongString(_ string: String) {
        writeInteger(UInt32(truncatingIfNeeded: string.utf8.count))
        writeString(string)
    }
}
