/// One HTTP/2 stream on a link connection.
///
/// Client-opened streams have odd ids (RFC 9113 §5.1.1). A value of 0 never names a stream:
/// `HTTP2LinkHandler.openStream` returns it when the stream could not be opened (and then
/// reports `streamDidClose` for it with REFUSED_STREAM).
public struct HTTP2StreamID: Hashable, Sendable, CustomStringConvertible {
    public var value: Int32

    public init(value: Int32) {
        self.value = value
    }

    /// No stream: what a failed `openStream` returns.
    public static let invalid = HTTP2StreamID(value: 0)

    public var isValid: Bool { value > 0 }

    public var description: String { "stream \(value)" }
}
