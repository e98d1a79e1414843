// One pre-encoded publish (method frame, header frame, body frames) that a producer copies
// per message and patches with its stamp: a memcpy and one 12-byte store, no encoding.
import AMQPWire
import NIOCore

/// The bytes of one `basic.publish` command on channel 1, and where its stamp goes.
public struct PublishTemplate: Sendable {
    /// The whole command.
    public let bytes: ByteBuffer
    /// Offset of the body's first byte inside ``bytes``.
    public let stampOffset: Int

    /// - Parameters:
    ///   - frameMax: the negotiated frame_max; bodies are split into frames of at most
    ///     frameMax - 8 bytes.
    public init(exchange: String, routingKey: String, size: Int, persistent: Bool,
                producer: UInt16, frameMax: UInt32) {
        let method = AMQPMethod.basicPublish(BasicPublish(exchange: exchange, routingKey: routingKey))
        let properties = BasicProperties(deliveryMode: persistent ? 2 : 1)
        let header = ContentHeader(bodySize: UInt64(size), properties: properties)
        var prefix = ByteBuffer()
        FrameEncoder.encodeMethod(channel: 1, method, into: &prefix)
        FrameEncoder.encode(.header(channel: 1, header), into: &prefix)
        var body = ByteBufferAllocator().buffer(capacity: size)
        body.writeRepeatingByte(0, count: size)
        PerfStamp(sentNanos: 0, producer: producer, sequence: 0).write(into: &body, at: 0)
        var bytes = ByteBuffer()
        FrameEncoder.encodeContent(channel: 1, method: method, header: header, body: body,
                                   frameMax: frameMax, into: &bytes)
        self.bytes = bytes
        // The first body frame follows the method and header frames and its 7-byte header.
        self.stampOffset = prefix.readableBytes + 7
    }

    /// Appends one publish stamped with `nanos` and `sequence`.
    @inlinable
    public func append(into buffer: inout ByteBuffer, nanos: UInt64, sequence: UInt16) {
        let at = buffer.writerIndex + stampOffset
        buffer.writeImmutableBuffer(bytes)
        // The producer id (bytes 8..<10) is already in the template; patch around it.
        buffer.setInteger(nanos, at: at)
        buffer.setInteger(sequence, at: at + 10)
    }
}
