// Encoding frames into one contiguous buffer (callers flush many frames per write).
import NIOCore

/// Encodes frames and whole content-carrying commands.
public enum FrameEncoder {
    /// Appends one frame (header, payload, frame end) to `buffer`.
    public static func encode(_ frame: Frame, into buffer: inout ByteBuffer) {
        switch frame {
        case .method(let channel, let method):
            encodeMethod(channel: channel, method, into: &buffer)
        case .header(let channel, let header):
            let sizeIndex = writeFrameHeader(type: FrameType.header, channel: channel, into: &buffer)
            header.encodePayload(into: &buffer)
            finishFrame(sizeIndex: sizeIndex, into: &buffer)
        case .body(let channel, let body):
            buffer.writeMultipleIntegers(FrameType.body, channel, UInt32(truncatingIfNeeded: body.readableBytes))
            buffer.writeImmutableBuffer(body)
            buffer.writeInteger(FrameType.end)
        case .heartbeat:
            buffer.writeMultipleIntegers(FrameType.heartbeat, UInt16(0), UInt32(0), FrameType.end)
        }
    }

    /// Appends a method frame to `buffer`.
    public static func encodeMethod(channel: UInt16, _ method: AMQPMethod, into buffer: inout ByteBuffer) {
        let sizeIndex = writeFrameHeader(type: FrameType.method, channel: channel, into: &buffer)
        method.encode(into: &buffer)
        finishFrame(sizeIndex: sizeIndex, into: &buffer)
    }

    /// Appends a content-carrying command: the method frame, the header frame, and the body
    /// split into body frames of at most `frameMax - 8` bytes (no body frame for an empty
    /// body). `frameMax` 0 means no limit. `header.bodySize` is written as given; it should
    /// equal `body.readableBytes`.
    public static func encodeContent(channel: UInt16, method: AMQPMethod, header: ContentHeader,
                                     body: ByteBuffer, frameMax: UInt32, into buffer: inout ByteBuffer) {
        let maxPayload = maxBodyPayload(frameMax)
        buffer.reserveCapacity(minimumWritableBytes: 64 + header.rawProperties.readableBytes
            + body.readableBytes + FrameType.overhead * (body.readableBytes / maxPayload + 1))
        encodeMethod(channel: channel, method, into: &buffer)
        encode(.header(channel: channel, header), into: &buffer)
        encodeBody(channel: channel, body: body, frameMax: frameMax, into: &buffer)
    }

    /// Appends `body` in body frames of at most `frameMax - 8` payload bytes (none for an
    /// empty body); `frameMax` 0 means no limit.
    public static func encodeBody(channel: UInt16, body: ByteBuffer, frameMax: UInt32, into buffer: inout ByteBuffer) {
        let maxPayload = maxBodyPayload(frameMax)
        if body.readableBytes <= maxPayload {
            // One frame, the common case.
            guard body.readableBytes > 0 else { return }
            buffer.writeMultipleIntegers(FrameType.body, channel, UInt32(truncatingIfNeeded: body.readableBytes))
            buffer.writeImmutableBuffer(body)
            buffer.writeInteger(FrameType.end)
            return
        }
        // Copied from the body's bytes, not through slices: a ByteBuffer slice that starts
        // beyond 16 MiB is itself a copy (NIO keeps slice offsets in 24 bits).
        buffer.reserveCapacity(minimumWritableBytes: body.readableBytes + (body.readableBytes / maxPayload + 1) * FrameType.overhead)
        body.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = min(bytes.count - offset, maxPayload)
                buffer.writeMultipleIntegers(FrameType.body, channel, UInt32(truncatingIfNeeded: n))
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
                buffer.writeInteger(FrameType.end)
                offset += n
            }
        }
    }

    /// The most body bytes one frame carries under `frameMax` (0: no limit).
    private static func maxBodyPayload(_ frameMax: UInt32) -> Int {
        frameMax > UInt32(FrameType.overhead) ? Int(frameMax) - FrameType.overhead : Int(UInt32.max)
    }

    private static func writeFrameHeader(type: UInt8, channel: UInt16, into buffer: inout ByteBuffer) -> Int {
        buffer.writeMultipleIntegers(type, channel)
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        return sizeIndex
    }

    private static func finishFrame(sizeIndex: Int, into buffer: inout ByteBuffer) {
        buffer.setInteger(UInt32(truncatingIfNeeded: buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
        buffer.writeInteger(FrameType.end)
    }
}
