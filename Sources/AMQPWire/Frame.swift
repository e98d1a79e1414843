// A decoded AMQP frame (spec 4.2.3): type octet, channel, uint32 payload size, payload,
// frame-end octet 0xCE. Method payloads are decoded; header properties and bodies stay as
// slices of the received bytes.
import NIOCore

/// One AMQP frame.
public enum Frame: Hashable, Sendable {
    /// A method frame (type 1).
    case method(channel: UInt16, AMQPMethod)
    /// A content header frame (type 2).
    case header(channel: UInt16, ContentHeader)
    /// A content body frame (type 3); the payload is a slice of the received bytes.
    case body(channel: UInt16, ByteBuffer)
    /// A heartbeat frame (type 8), always on channel 0.
    case heartbeat

    /// The frame's channel (0 for heartbeats).
    @inlinable
    public var channel: UInt16 {
        switch self {
        case .method(let channel, _), .header(let channel, _), .body(let channel, _): return channel
        case .heartbeat: return 0
        }
    }
}

/// Frame type octets and the frame-end octet (spec constants `frame-*`).
public enum FrameType {
    /// `frame-method`.
    public static let method: UInt8 = 1
    /// `frame-header`.
    public static let header: UInt8 = 2
    /// `frame-body`.
    public static let body: UInt8 = 3
    /// `frame-heartbeat`.
    public static let heartbeat: UInt8 = 8
    /// `frame-end`, the octet after every payload.
    public static let end: UInt8 = 0xCE
    /// Bytes a frame adds around its payload: 7 of header, 1 of frame end.
    public static let overhead = 8
    /// `frame-min-size`: the smallest frame_max a peer may negotiate.
    public static let minimumFrameSize: UInt32 = 4096
}

/// The 8-byte protocol header a client sends first (spec 4.2.2).
public enum ProtocolHeader {
    /// `"AMQP" 0 0 9 1`.
    public static let amqp091: [UInt8] = Array("AMQP".utf8) + [0, 0, 9, 1]
    /// `"AMQP" 1 1 0 9`, the 0-9 header, which some clients (txAMQP with the 0-9-1 spec file)
    /// send. RabbitMQ's rabbit_reader speaks 0-9-1 to them, and so do we.
    public static let amqp09: [UInt8] = Array("AMQP".utf8) + [1, 1, 0, 9]

    /// The outcome of reading a protocol header.
    public enum Match: Hashable, Sendable {
        /// Fewer than 8 bytes are buffered; nothing was consumed.
        case incomplete
        /// The header is AMQP 0-9-1 (or 0-9, spoken as 0-9-1); its 8 bytes were consumed.
        case accepted
        /// Any other header; its 8 bytes were consumed. The server must answer with
        /// ``amqp091`` and close the socket (spec 4.2.2).
        case rejected([UInt8])
    }

    /// Reads the protocol header from the start of `buffer`.
    public static func match(_ buffer: inout ByteBuffer) -> Match {
        guard let bytes = buffer.readBytes(length: 8) else { return .incomplete }
        return bytes == amqp091 || bytes == amqp09 ? .accepted : .rejected(bytes)
    }
}
