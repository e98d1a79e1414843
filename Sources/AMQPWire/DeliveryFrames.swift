// basic.deliver encoded once, by the worker that owns the queue: the method frame and the
// content-header frame, with channel 0 and delivery tag 0. The router copies those bytes to
// the client and patches only the channel (in both frames) and the delivery tag, so it never
// decodes a delivery's names or re-encodes its method (DESIGN: "the router then only patches
// the channel number and the delivery tag"). Body frames are cut by the router, which alone
// knows the connection's frame_max.
import NIOCore

public enum DeliveryFrames {
    /// Appends basic.deliver and its content header, channel 0 and delivery tag 0.
    /// Written field by field into one reserved region: this runs once per delivery on the
    /// worker, where the general method encoder's checks per field showed in the profile.
    /// The names are at most 255 bytes (they arrived as AMQP short strings); longer ones are cut.
    public static func encodePrefix(consumerTag: String, redelivered: Bool, exchange: String, routingKey: String,
                                    properties: ByteBuffer, bodySize: Int, into buffer: inout ByteBuffer) {
        var consumerTag = consumerTag, exchange = exchange, routingKey = routingKey
        let names = min(consumerTag.utf8.count, 255) + min(exchange.utf8.count, 255) + min(routingKey.utf8.count, 255)
        let methodSize = 4 + 3 + names + 8 + 1
        let headerSize = 12 + properties.readableBytes
        let total = 7 + methodSize + 1 + 7 + headerSize + 1
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var at = 0
            func byte(_ value: UInt8) { out[at] = value; at += 1 }
            func integer<T: FixedWidthInteger>(_ value: T) {
                withUnsafeBytes(of: value.bigEndian) { out.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                at += MemoryLayout<T>.size
            }
            func shortString(_ string: inout String) {
                string.withUTF8 { utf8 in
                    let n = min(utf8.count, 255)
                    byte(UInt8(n))
                    if n > 0 { out.baseAddress!.advanced(by: at).copyMemory(from: utf8.baseAddress!, byteCount: n) }
                    at += n
                }
            }
            byte(FrameType.method); integer(UInt16(0)); integer(UInt32(methodSize))
            integer(BasicDeliver.classID); integer(BasicDeliver.methodID)
            shortString(&consumerTag)
            integer(UInt64(0))
            byte(redelivered ? 1 : 0)
            shortString(&exchange)
            shortString(&routingKey)
            byte(FrameType.end)
            byte(FrameType.header); integer(UInt16(0)); integer(UInt32(headerSize))
            integer(UInt16(60)); integer(UInt16(0)); integer(UInt64(bodySize))
            properties.withUnsafeReadableBytes { raw in
                if raw.count > 0 { out.baseAddress!.advanced(by: at).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
                at += raw.count
            }
            byte(FrameType.end)
            return at
        }
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
