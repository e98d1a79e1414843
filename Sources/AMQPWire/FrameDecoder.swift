// AMQPWire: the AMQP 0-9-1 wire format, with no I/O.
//
// Responsibilities: frames (FrameDecoder, FrameEncoder), methods (generated from the spec by
// Generator/generate.py into Methods.generated.swift), content headers and basic
// properties, field tables, reply codes, and assembling frames into commands
// (CommandAssembler). Collaborators: RouterCore feeds bytes in and gets Frames/Commands out;
// RouterServer writes what FrameEncoder produces.
//
// Invariants:
// - Malformed input never traps: every length is checked against the bytes present and
//   every violation throws an AMQPWireError naming the spec's reply code (see that type).
// - No copies of message data: body frames and header properties are ByteBuffer slices of
//   the received bytes; a single-frame body is passed through as that same slice.
// - A frame larger than frame_max is rejected as soon as its 7-byte header is read, before
//   its payload is buffered.
import NIOCore

/// Splits a byte stream into AMQP frames, modelled on swift-nio-http2's HTTP2FrameParser:
/// `append` bytes as they arrive, then call `nextFrame` until it returns `nil`.
///
/// The protocol header (``ProtocolHeader``) must be consumed before bytes are appended.
/// After a thrown error the decoder keeps throwing it: the connection must be closed.
public struct FrameDecoder {
    private enum State {
        case awaitingHeader
        case awaitingPayload(type: UInt8, channel: UInt16, size: Int)
        case failed(AMQPWireError)
    }

    /// The largest frame accepted, header and frame-end octet included (the negotiated
    /// `frame_max`); 0 means no limit.
    public var maxFrameSize: UInt32

    var received = ReceivedBytes()
    private var state: State = .awaitingHeader

    /// A frame with a payload of `payloadSize` bytes is accepted under frame_max. frame_max
    /// counts the whole frame (spec 4.9: "the frame-max ... includes the frame header and
    /// end-byte"), so the payload should be at most frame_max - 8; but pamqp-based clients
    /// (amqpstorm, rabbitpy, aiorabbit) cut bodies into frame_max-byte payloads, and RabbitMQ
    /// allows for that with an 8-byte fudge (rabbit_reader's FRAME_SIZE_FUDGE). So do we:
    /// a payload of up to frame_max bytes is accepted. Frames we send keep the strict limit.
    func fits(_ payloadSize: UInt32) -> Bool {
        maxFrameSize == 0 || UInt64(payloadSize) <= UInt64(maxFrameSize)
    }

    var isAwaitingHeader: Bool {
        if case .awaitingHeader = state { return true }
        return false
    }

    /// Creates a decoder that accepts frames of at most `maxFrameSize` bytes (0: no limit).
    public init(maxFrameSize: UInt32) {
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes buffered but not yet returned as frames.
    public var bufferedBytes: Int { received.readableBytes }

    /// Adds received bytes. Frames decoded from them are slices of the caller's storage
    /// (except a frame split between two chunks, which is joined).
    public mutating func append(_ bytes: ByteBuffer) {
        received.append(bytes)
    }

    /// Returns the next complete frame, or `nil` when more bytes are needed.
    /// - Throws: ``AMQPWireError`` with the code the spec assigns (501 for framing errors,
    ///   502/540 for undecodable methods); the connection must then be closed.
    public mutating func nextFrame() throws(AMQPWireError) -> Frame? {
        do throws(AMQPWireError) {
            return try decodeNext()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func decodeNext() throws(AMQPWireError) -> Frame? {
        let type: UInt8
        let channel: UInt16
        let size: Int
        switch state {
        case .failed(let error):
            throw error
        case .awaitingHeader:
            guard received.ensureReadable(7),
                  let (t, c, s) = received.head.readMultipleIntegers(as: (UInt8, UInt16, UInt32).self) else {
                return nil
            }
            try checkHeader(type: t, channel: c, size: s)
            (type, channel, size) = (t, c, Int(s))
        case .awaitingPayload(let t, let c, let s):
            (type, channel, size) = (t, c, s)
        }

        guard received.ensureReadable(size + 1) else {
            state = .awaitingPayload(type: type, channel: channel, size: size)
            return nil
        }
        state = .awaitingHeader
        var payload = received.head.readSlice(length: size)!
        let end = received.head.readInteger(as: UInt8.self)!
        guard end == FrameType.end else {
            throw AMQPWireError(.frameError, "bad frame end octet 0x\(String(end, radix: 16))", channel: channel)
        }
        switch type {
        case FrameType.method:
            do throws(AMQPWireError) {
                return .method(channel: channel, try AMQPMethod.decode(from: &payload))
            } catch {
                var error = error
                error.channel = channel
                throw error
            }
        case FrameType.header:
            do throws(AMQPWireError) {
                return .header(channel: channel, try ContentHeader(payload: &payload))
            } catch {
                var error = error
                error.channel = channel
                throw error
            }
        case FrameType.body:
            return .body(channel: channel, payload)
        default:
            return .heartbeat
        }
    }

    private func checkHeader(type: UInt8, channel: UInt16, size: UInt32) throws(AMQPWireError) {
        switch type {
        case FrameType.method, FrameType.header, FrameType.body:
            break
        case FrameType.heartbeat:
            // Spec 4.2.7: heartbeat frames must be on channel 0 and carry no payload, and
            // an invalid heartbeat frame is a connection exception 501 (frame error).
            guard channel == 0 else {
                throw AMQPWireError(.frameError, "heartbeat frame on channel \(channel)", channel: channel)
            }
            guard size == 0 else {
                throw AMQPWireError(.frameError, "heartbeat frame with a payload", channel: channel)
            }
        default:
            // Spec 4.2.3 / RabbitMQ rabbit_reader: an unknown frame type is a frame error.
            throw AMQPWireError(.frameError, "unknown frame type \(type)", channel: channel)
        }
        if !fits(size) {
            throw AMQPWireError(.frameError,
                                "frame size \(UInt64(size) + 8) exceeds frame_max \(maxFrameSize) (a payload of \(size) bytes; at most \(maxFrameSize) are accepted)",
                                channel: channel)
        }
    }
}
