// The link's binary encoding. Every message is
//   u32 length (of what follows) | u8 kind | fields
// Integers are big-endian; strings are u16 length + UTF-8; byte blobs are u32 length +
// bytes and are decoded as slices of the received buffer (no copy).
import AMQPWire
import BrokerModel
import NIOCore

/// A message that is malformed or of an unknown kind. The link is then unusable: the peer
/// resets the stream.
public struct LinkDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "link decoding error: \(reason)" }
}

/// Messages one side of the link writes.
public protocol LinkEncodable: Sendable {
    /// Appends the kind and the fields.
    func encode(into buffer: inout ByteBuffer)
    /// Appends this message, with its length prefix, to `buffer`. The default is
    /// ``writeFieldByField(into:)``; the per-message kinds write into one reserved region.
    func write(into buffer: inout ByteBuffer)
}

/// Messages one side of the link reads.
public protocol LinkDecodable: Sendable {
    static func decode(kind: UInt8, from buffer: inout ByteBuffer) throws(LinkDecodingError) -> Self
}

/// Router → worker requests are written and read as one type.
public typealias LinkCodable = LinkEncodable & LinkDecodable

extension LinkEncodable {
    public func write(into buffer: inout ByteBuffer) { writeFieldByField(into: &buffer) }

    /// The length prefix, then ``encode(into:)``.
    public func writeFieldByField(into buffer: inout ByteBuffer) {
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        encode(into: &buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
    }
}

/// Splits a byte stream into messages. Bytes may arrive in any chunking.
/// Message bodies are slices of the received chunks; only a message split between two
/// chunks is joined (see `ReceivedBytes`).
///
/// A class: a stream's decoder lives in its owner's stream table, and a copy of a value
/// type taken out of it would share the joined buffer of a message split across reads, so
/// that every read copied the whole message so far (a 64 MB publish once kept a worker busy
/// for minutes). One decoder per stream, always mutated in place.
public final class LinkMessageDecoder<Message: LinkDecodable> {
    private var received = ReceivedBytes()
    /// Upper bound for one message; larger lengths mean a corrupt stream.
    public var maxMessageSize: Int

    public init(maxMessageSize: Int = 256 << 20) { self.maxMessageSize = maxMessageSize }

    public func append(_ bytes: ByteBuffer) {
        received.append(bytes)
    }

    public func next() throws(LinkDecodingError) -> Message? {
        guard received.ensureReadable(4),
              let length = received.head.getInteger(at: received.head.readerIndex, as: UInt32.self) else { return nil }
        guard Int(length) <= maxMessageSize, length >= 1 else {
            throw LinkDecodingError("message length \(length) out of range")
        }
        guard received.ensureReadable(4 + Int(length)) else { return nil }
        received.head.moveReaderIndex(forwardBy: 4)
        var payload = received.head.readSlice(length: Int(length))!
        let kind: UInt8 = payload.readInteger()!
        let message = try Message.decode(kind: kind, from: &payload)
        guard payload.readableBytes == 0 else {
            throw LinkDecodingError("\(payload.readableBytes) trailing bytes after message kind \(kind)")
        }
        return message
    }
}

// MARK: - Field helpers

extension ByteBuffer {
    @inlinable
    mutating func writeLinkString(_ string: String) {
        let lengthIndex = writerIndex
        writeInteger(UInt16(0))
        let written = writeString(string)
        setInteger(UInt16(truncatingIfNeeded: written), at: lengthIndex)
    }

    mutating func writeLinkBlob(_ blob: ByteBuffer) {
        writeInteger(UInt32(blob.readableBytes))
        writeImmutableBuffer(blob)
    }

    mutating func writeLinkBool(_ value: Bool) { writeInteger(value ? UInt8(1) : 0) }

    mutating func readLinkInteger<T: FixedWidthInteger>(_: T.Type = T.self) throws(LinkDecodingError) -> T {
        guard let value = readInteger(as: T.self) else { throw LinkDecodingError("truncated integer") }
        return value
    }

    mutating func readLinkBool() throws(LinkDecodingError) -> Bool {
        try readLinkInteger(UInt8.self) != 0
    }

    mutating func readLinkString() throws(LinkDecodingError) -> String {
        let length = try readLinkInteger(UInt16.self)
        guard let string = readString(length: Int(length)) else { throw LinkDecodingError("truncated string") }
        return string
    }

    mutating func readLinkBlob() throws(LinkDecodingError) -> ByteBuffer {
        let length = try readLinkInteger(UInt32.self)
        guard let slice = readSlice(length: Int(length)) else { throw LinkDecodingError("truncated blob") }
        return slice
    }

    mutating func writeQueueID(_ id: QueueID) {
        writeLinkString(id.vhost.name)
        writeLinkString(id.name.name)
    }

    mutating func readQueueID() throws(LinkDecodingError) -> QueueID {
        let vhost = try readLinkString()
        let name = try readLinkString()
        return QueueID(vhost: VHost(vhost), name: QueueName(name))
    }

    mutating func writeLinkMessage(_ message: LinkMessage) {
        writeLinkString(message.exchange)
        writeLinkString(message.routingKey)
        writeLinkBlob(message.properties)
        writeLinkBlob(message.body)
    }

    mutating func readLinkMessage() throws(LinkDecodingError) -> LinkMessage {
        let exchange = try readLinkString()
        let routingKey = try readLinkString()
        let properties = try readLinkBlob()
        let body = try readLinkBlob()
        return LinkMessage(exchange: exchange, routingKey: routingKey, properties: properties, body: body)
    }

    mutating func writeChannel(_ channel: ChannelNumber) { writeInteger(channel.value) }

    mutating func readChannel() throws(LinkDecodingError) -> ChannelNumber {
        ChannelNumber(try readLinkInteger(UInt16.self))
    }

    mutating func writeRequestID(_ id: LinkRequestID) { writeInteger(id.value) }

    mutating func readRequestID() throws(LinkDecodingError) -> LinkRequestID {
        LinkRequestID(try readLinkInteger(UInt32.self))
    }
}
