// Follows the frames of deliveries on the consumer's channel without assembling bodies:
// `basic.deliver` (or `basic.return`, whose content is skipped), then the content header,
// then body frames until the declared size is reached (spec 4.2.6). Only the stamp is read,
// from the first body frame, so a large body costs no copy.
import NIOCore

/// Turns method/header/body frames into completed deliveries.
public struct DeliveryTracker: Sendable, Hashable {
    private enum State: Sendable, Hashable {
        case idle
        /// A content-carrying method arrived; `tag` nil means it is not a delivery.
        case awaitingHeader(tag: UInt64?)
        case awaitingBody(tag: UInt64?, remaining: UInt64, stamp: PerfStamp?, first: Bool)
    }

    /// A completed delivery.
    public struct Delivery: Sendable, Hashable {
        public var tag: UInt64
        /// nil when the body is shorter than a stamp (not a perf message).
        public var stamp: PerfStamp?
    }

    /// Frames that did not fit the expected sequence.
    public struct UnexpectedFrame: Error, Hashable, Sendable {
        public var description: String
    }

    private var state: State = .idle

    public init() {}

    /// A `basic.deliver` with this tag, or (tag nil) another content method to skip.
    public mutating func contentMethod(tag: UInt64?) throws(UnexpectedFrame) {
        guard case .idle = state else { throw UnexpectedFrame(description: "method frame inside a content") }
        state = .awaitingHeader(tag: tag)
    }

    /// The content header; returns the delivery if the body is empty.
    public mutating func header(bodySize: UInt64) throws(UnexpectedFrame) -> Delivery? {
        guard case .awaitingHeader(let tag) = state else { throw UnexpectedFrame(description: "unexpected content header") }
        if bodySize == 0 {
            state = .idle
            return tag.map { Delivery(tag: $0, stamp: nil) }
        }
        state = .awaitingBody(tag: tag, remaining: bodySize, stamp: nil, first: true)
        return nil
    }

    /// A body frame; returns the delivery when it completes the body.
    public mutating func body(_ fragment: ByteBuffer) throws(UnexpectedFrame) -> Delivery? {
        guard case .awaitingBody(let tag, let remaining, var stamp, let first) = state else {
            throw UnexpectedFrame(description: "unexpected content body")
        }
        let size = UInt64(fragment.readableBytes)
        guard size <= remaining else { throw UnexpectedFrame(description: "body frame longer than the declared size") }
        // Only the first body frame carries the stamp (frame_max is at least 4096 bytes).
        if first && tag != nil { stamp = PerfStamp(body: fragment) }
        if size == remaining {
            state = .idle
            return tag.map { Delivery(tag: $0, stamp: stamp) }
        }
        state = .awaitingBody(tag: tag, remaining: remaining - size, stamp: stamp, first: false)
        return nil
    }
}
