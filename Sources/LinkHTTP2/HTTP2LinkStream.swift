import NIOCore

/// What one handler knows about one stream: the bytes queued to send, whether END_STREAM was
/// asked for, and the request/response head being received. A class so that the hot path
/// (`send`) and the nghttp2 data callbacks mutate it in place.
final class HTTP2LinkStream {
    let id: Int32
    /// Queued outbound bytes, oldest first; the data source drains it into DATA frames.
    var queue = CircularBuffer<ByteBuffer>(initialCapacity: 8)
    var queuedBytes = 0
    /// The caller asked for END_STREAM after the queued bytes.
    var endRequested = false
    /// HEADERS were submitted with a data provider (the stream stays open for DATA).
    var hasDataProvider = false
    /// Our HEADERS were submitted (request for a client, response for a server).
    var headersSubmitted = false
    /// The data source returned NGHTTP2_ERR_DEFERRED; `resume_data` is due on the next send.
    var deferred = false
    /// The data source reported EOF: nothing more can be sent.
    var localEnded = false
    // The head being received.
    var method = ""
    var path = ""
    var status = 0

    init(id: Int32) {
        self.id = id
    }

    func append(_ data: ByteBuffer) {
        queuedBytes += data.readableBytes
        queue.append(data)
    }

    /// Moves `count` queued bytes into `out` (which the caller owns), oldest first.
    func drain(_ count: Int, into out: inout ByteBuffer) {
        var remaining = count
        while remaining > 0, !queue.isEmpty {
            let available = queue[queue.startIndex].readableBytes
            if available <= remaining {
                var whole = queue.removeFirst()
                out.writeBuffer(&whole)
                remaining -= available
            } else {
                queue[queue.startIndex].withUnsafeReadableBytes { bytes in
                    _ = out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes.prefix(remaining)))
                }
                queue[queue.startIndex].moveReaderIndex(forwardBy: remaining)
                remaining = 0
            }
        }
        queuedBytes -= count - remaining
    }

    func discardQueue() {
        queue.removeAll()
        queuedBytes = 0
    }
}

/// What nghttp2 callbacks record for the delegate, in wire order.
enum HTTP2LinkEvent {
    case active
    case opened(Int32, method: String, path: String)
    case response(Int32, status: Int)
    case data(Int32, ByteBuffer)
    case ended(Int32)
    case closed(Int32, errorCode: UInt32)
    case goaway(errorCode: UInt32)
    case inactive
}
