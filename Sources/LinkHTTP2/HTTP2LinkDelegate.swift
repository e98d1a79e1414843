import NIOCore

/// Receives what arrives on a link connection.
///
/// Every call is made on the channel's event loop, after libnghttp2 has returned (never from
/// inside one of its callbacks), so a delegate may call any `HTTP2LinkHandler` method,
/// including `flush()`, from here. Events arrive in wire order.
public protocol HTTP2LinkDelegate: AnyObject {
    /// The connection preface and our SETTINGS have been written; streams may be opened.
    func linkActive(_ link: HTTP2LinkHandler)
    /// Server: request headers arrived on a new stream.
    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String)
    /// Client: the (final) response headers arrived.
    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int)
    /// DATA bytes, in order; one call may carry several DATA frames' worth of bytes.
    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer)
    /// The peer sent END_STREAM: no more data will arrive on this stream.
    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID)
    /// The stream is fully closed (both sides ended, errorCode 0) or was reset (RST_STREAM
    /// either way, or refused). Nothing more happens on it.
    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32)
    /// The connection is gone: closed, GOAWAY received, or a protocol error. The last call;
    /// the handler drops its reference to the delegate afterwards.
    func linkInactive(_ link: HTTP2LinkHandler)
    /// A flush wrote queued bytes to the socket: streams' `queuedBytes` may have fallen (once
    /// per flush, not per message).
    func linkDidWrite(_ link: HTTP2LinkHandler)
}

extension HTTP2LinkDelegate {
    public func linkDidWrite(_ link: HTTP2LinkHandler) {}
}
