// basic.deliver encoded once, by the worker that owns the queue: the method frame and the
// content-header frame, with channel 0 and delivery tag 0. The router copies those bytes to
// the client and patches only the channel (in both frames) and the delivery tag, so it never
// decodes a delivery's names or re-encodes its method (DESIGN: "the router then only patches
// the channel number and the delivery tag"). Body frames are cut by the router, which alone
// knows the connection's frame_max.
import NIOCore

public enum DeliveryFrames {
    /// Appends basic.deliver and its content header, channel 0 and delivery tag 0.
    public static func encodePrefix(consumerTag: String, redelivered: Bool, exchange: String, routingKey: String,
                                    properties: ByteBuffer, bodySize: Int, into buffer: inout ByteBuffer) {
        let size = prefixSize(consumerTag: consumerTag, exchange: exchange, routingKey: routingKey, properties: properties)
        buffer.write(size: size) {
            writePrefix(consumerTag: consumerTag, redelivered: redelivered, exchange: exchange, routingKey: routingKey,
                        properties: properties, bodySize: bodySize, into: &$0)
        }
    }

    /// The bytes ``writePrefix`` writes: both frames, each with its 7-byte header and end octet.
    @inlinable
    public static func prefixSize(consumerTag: String, exchange: String, routingKey: String, properties: ByteBuffer) -> Int {
        7 + methodPayloadSize(consumerTag: consumerTag, exchange: exchange, routingKey: routingKey) + 1
            + 7 + headerPayloadSize(properties: properties) + 1
    }

    /// class, method, three short strings, delivery-tag, redelivered.
    @inlinable
    static func methodPayloadSize(consumerTag: String, exchange: String, routingKey: String) -> Int {
        4 + 3 + ByteWriter.length(consumerTag, limit: 255) + ByteWriter.length(exchange, limit: 255)
            + ByteWriter.length(routingKey, limit: 255) + 8 + 1
    }

    /// class, weight, body size, properties.
    @inlinable
    static func headerPayloadSize(properties: ByteBuffer) -> Int { 12 + properties.readableBytes }

    /// ``encodePrefix`` into a region reserved for a whole link message. The names are at
    /// most 255 bytes (they arrived as AMQP short strings); longer ones are cut.
    @inlinable
    public static func writePrefix(consumerTag: String, redelivered: Bool, exchange: String, routingKey: String,
                                   properties: ByteBuffer, bodySize: Int, into out: inout ByteWriter) {
        let methodSize = methodPayloadSize(consumerTag: consumerTag, exchange: exchange, routingKey: routingKey)
        out.write(FrameType.method); out.write(UInt16(0)); out.write(UInt32(methodSize))
        out.write(BasicDeliver.classID); out.write(BasicDeliver.methodID)
        out.write(consumerTag, lengthAs: UInt8.self, limit: 255)
        out.write(UInt64(0))
        out.write(redelivered)
        out.write(exchange, lengthAs: UInt8.self, limit: 255)
        out.write(routingKey, lengthAs: UInt8.self, limit: 255)
        out.write(FrameType.end)
        out.write(FrameType.header); out.write(UInt16(0)); out.write(UInt32(headerPayloadSize(properties: properties)))
        out.write(BasicDeliver.classID); out.write(UInt16(0)); out.write(UInt64(bodySize))
        out.write(properties)
        out.write(FrameType.end)
    }

    /// Where the patched fields of an encoded prefix are, checked once.
    public struct Layout: Sendable {
        fileprivate let tagOffset: Int
        fileprivate let headerStart: Int

        /// Nil when `prefix` is not a basic.deliver method frame followed by a header frame.
        public init?(_ prefix: ByteBuffer) {
            // Method frame: type(1) channel(2) size(4) class(2) method(2) consumer-tag(1 + n)
            // delivery-tag(8) …; the header frame follows its frame-end octet.
            let base = prefix.readerIndex
            guard prefix.getInteger(at: base, as: UInt8.self) == FrameType.method,
                  let methodSize = prefix.getInteger(at: base + 3, as: UInt32.self),
                  let tagLength = prefix.getInteger(at: base + 11, as: UInt8.self),
                  12 + Int(tagLength) + 8 <= 7 + Int(methodSize) else { return nil }
            let headerStart = 7 + Int(methodSize) + 1
            guard headerStart + 7 <= prefix.readableBytes,
                  prefix.getInteger(at: base + headerStart, as: UInt8.self) == FrameType.header else { return nil }
            self.tagOffset = 12 + Int(tagLength)
            self.headerStart = headerStart
        }
    }

    /// Appends a delivery to `buffer`: `prefix` (from ``encodePrefix``, checked by `layout`)
    /// with `channel` and `deliveryTag` patched in, then `body` in frames of at most
    /// `frameMax` bytes.
    public static func write(prefix: ByteBuffer, layout: Layout, channel: UInt16, deliveryTag: UInt64,
                             body: ByteBuffer, frameMax: UInt32, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeImmutableBuffer(prefix)
        buffer.setInteger(channel, at: start + 1)
        buffer.setInteger(deliveryTag, at: start + layout.tagOffset)
        buffer.setInteger(channel, at: start + layout.headerStart + 1)
        FrameEncoder.encodeBody(channel: channel, body: body, frameMax: frameMax, into: &buffer)
    }
}
