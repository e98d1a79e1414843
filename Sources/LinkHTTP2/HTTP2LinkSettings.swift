import NIOCore

/// Limits both ends announce on a link connection.
///
/// The defaults are sized so that HTTP/2 framing and flow control never throttle the link
/// (DESIGN.md, "The internal link"): a 1 MiB frame carries thousands of small messages, and
/// the windows are far larger than anything one flush produces.
public struct HTTP2LinkSettings: Sendable {
    /// SETTINGS_MAX_FRAME_SIZE we accept; also the largest DATA payload we send when the peer
    /// allows it. Clamped to 16 KiB…16 MiB−1 (RFC 9113 §6.5.2).
    public var maxFrameSize: Int = 1 << 20
    /// SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window. Clamped to 2^31−1.
    public var initialStreamWindow: Int = 16 << 20
    /// Receive window for the whole connection, raised with a WINDOW_UPDATE on stream 0.
    public var connectionWindow: Int = 1 << 30
    /// SETTINGS_MAX_CONCURRENT_STREAMS we allow the peer to open, and what we assume the peer
    /// allows us until its SETTINGS arrive.
    public var maxConcurrentStreams: Int = 100_000
    /// Largest outbound buffer handed to the channel in one write; one flush may make several
    /// writes when more is pending, and stops while the channel is not writable.
    public var maxWriteSize: Int = 1 << 20
    /// When true, a stream's receive window is replenished only as the delegate reports the
    /// bytes handled (`consumed(stream:bytes:)`), so a stream whose data cannot be passed on
    /// stops its sender after `initialStreamWindow` bytes; the connection's window is still
    /// replenished at once, so other streams keep flowing (HTTP/2 flow control per stream).
    public var manualStreamWindows = false

    public init() {}

    /// How a link channel sizes its reads: up to 1 MiB under load (NIO's default stops at
    /// 64 KiB), so a busy link takes fewer reads, and a large message fewer joins.
    public static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20)
}
