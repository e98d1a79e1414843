// Bytes that arrive in socket-sized chunks, read as one stream by a frame or message decoder.
import NIOCore

/// A stream of received chunks read through one contiguous `head`. Decoders take slices of
/// `head`, so message data stays in the buffers it was received in. Only a unit (frame,
/// message) that straddles two chunks is copied, and only its own bytes: appending the whole
/// next chunk to the leftover would copy every byte received after a split, and would copy
/// the leftover's storage too whenever earlier slices of it are still alive.
public struct ReceivedBytes {
    /// Where decoders read; ``ensureReadable(_:)`` makes it long enough.
    public var head = ByteBuffer()
    /// Received after `head`, not yet needed.
    private var queued: ByteBuffer?
    /// `head` is a buffer made here to join a straddling unit (nothing else holds it).
    private var headIsJoined = false

    public init() {}

    /// Bytes received and not yet read.
    public var readableBytes: Int { head.readableBytes + (queued?.readableBytes ?? 0) }

    public mutating func append(_ chunk: ByteBuffer) {
        if head.readableBytes == 0 && queued == nil {
            head = chunk
            headIsJoined = false
        } else if queued == nil {
            queued = chunk
        } else {
            queued!.writeImmutableBuffer(chunk)
        }
    }

    /// Makes at least `count` bytes readable in `head` if that many have been received,
    /// taking from the next chunk only the bytes that are missing.
    public mutating func ensureReadable(_ count: Int) -> Bool {
        if head.readableBytes >= count { return true }
        guard var next = queued else { return false }
        if head.readableBytes == 0 {
            head = next
            headIsJoined = false
            queued = nil
            return head.readableBytes >= count
        }
        let take = min(count - head.readableBytes, next.readableBytes)
        if !headIsJoined || head.writableBytes < take {
            var joined = ByteBufferAllocator().buffer(capacity: count)
            joined.writeImmutableBuffer(head)
            head = joined
            headIsJoined = true
        }
        head.writeImmutableBuffer(next.readSlice(length: take)!)
        queued = next.readableBytes > 0 ? next : nil
        return head.readableBytes >= count
    }
}
