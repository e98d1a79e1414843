// Assembles frames into commands per channel, after rabbitmq-server's
// deps/rabbit_common/src/rabbit_command_assembler.erl: a content-carrying method waits for
// its header, then for body frames until the declared body size is reached. Each channel
// has its own state, since frames of different channels interleave; channels with no
// content in progress take no storage. Heartbeats pass through in any state.
import NIOCore

/// A complete AMQP command.
public enum Command: Hashable, Sendable {
    /// A method without content.
    case method(channel: UInt16, AMQPMethod)
    /// A content-carrying method with its header and its whole body.
    case content(channel: UInt16, AMQPMethod, ContentHeader, body: ByteBuffer)
    /// A heartbeat.
    case heartbeat
}

/// Turns ``Frame``s into ``Command``s, one state machine per channel.
///
/// Every error it throws is a connection error (all are hard errors in the spec):
/// - 505 `unexpectedFrame`: a header or body frame when none is expected, a method frame
///   while a content is incomplete, a header of another class or with a non-zero weight;
/// - 501 `frameError`: a body frame longer than the rest of the declared body, or a body
///   size above ``maxBodySize``.
public struct CommandAssembler {
    private enum State {
        case awaitingHeader(AMQPMethod)
        case awaitingBody(AMQPMethod, ContentHeader, remaining: UInt64)
    }

    /// The largest body size a header may declare. RabbitMQ's assembler rejects more than
    /// 512 MiB (`?MAX_MSG_SIZE`) with a frame error; the configured `max_message_size` is
    /// a channel-level check (406) done elsewhere.
    public var maxBodySize: UInt64

    private var channels: [UInt16: State] = [:]
    /// Bodies of more than one frame, gathered so far; kept apart from `channels` so the
    /// buffer can be moved out, appended to without a copy, and moved back.
    private var bodies: [UInt16: ByteBuffer] = [:]

    /// Creates an assembler with no content in progress.
    public init(maxBodySize: UInt64 = 512 * 1024 * 1024) {
        self.maxBodySize = maxBodySize
    }

    /// No channel has a content in progress.
    public var isIdle: Bool { channels.isEmpty && bodies.isEmpty }

    /// Whether `channel` has a content-carrying method waiting for its header or body.
    public func isAssemblingContent(on channel: UInt16) -> Bool {
        channels[channel] != nil
    }

    /// Feeds one frame; returns a command when the frame completes one.
    /// - Throws: ``AMQPWireError`` naming the reply code (see the type's documentation),
    ///   with ``AMQPWireError/channel`` and the method's class and method id when known.
    public mutating func process(_ frame: Frame) throws(AMQPWireError) -> Command? {
        switch frame {
        case .heartbeat:
            return .heartbeat

        case .method(let channel, let method):
            // Checked for emptiness first: most method frames (acks, above all) arrive with no
            // content in progress, and a lookup would hash the channel.
            if !channels.isEmpty, let state = channels[channel] {
                throw unexpected(channel, state, "expected content \(expectation(state)), got method \(method.name) instead")
            }
            guard method.hasContent else { return .method(channel: channel, method) }
            channels[channel] = .awaitingHeader(method)
            return nil

        case .header(let channel, let header):
            guard let state = channels[channel] else {
                throw AMQPWireError(.unexpectedFrame, "expected method frame, got content header frame instead",
                                    channel: channel)
            }
            guard case .awaitingHeader(let method) = state else {
                throw unexpected(channel, state, "expected content body, got content header frame instead")
            }
            guard header.classID == method.classID, header.weight == 0 else {
                throw unexpected(channel, state,
                                 "expected content header for class \(method.classID), got one for class \(header.classID) instead")
            }
            guard header.bodySize <= maxBodySize else {
                channels.removeValue(forKey: channel)
                throw AMQPWireError(.frameError,
                                    "content body size \(header.bodySize) exceeds maximum allowed size \(maxBodySize)",
                                    channel: channel, classID: method.classID, methodID: method.methodID)
            }
            if header.bodySize == 0 {
                channels.removeValue(forKey: channel)
                return .content(channel: channel, method, header, body: ByteBuffer())
            }
            channels[channel] = .awaitingBody(method, header, remaining: header.bodySize)
            return nil

        case .body(let channel, let fragment):
            guard let state = channels[channel] else {
                throw AMQPWireError(.unexpectedFrame, "expected method frame, got content body frame instead",
                                    channel: channel)
            }
            guard case .awaitingBody(let method, let header, let remaining) = state else {
                throw unexpected(channel, state, "expected content header, got content body frame instead")
            }
            let size = UInt64(fragment.readableBytes)
            guard size <= remaining else {
                throw AMQPWireError(.frameError, "content body frame exceeds remaining content size",
                                    channel: channel, classID: method.classID, methodID: method.methodID)
            }
            if size == remaining && (bodies.isEmpty || bodies[channel] == nil) {
                // The whole body in one frame: hand over the received slice itself.
                channels.removeValue(forKey: channel)
                return .content(channel: channel, method, header, body: fragment)
            }
            // Moved out of the dictionary, so this is the only reference and appending to it
            // does not copy. A new buffer grows towards the declared size, but a large
            // declared size is not trusted for the first allocation.
            var body = bodies.removeValue(forKey: channel)
                ?? ByteBufferAllocator().buffer(capacity: Int(min(header.bodySize, 1 << 20)))
            body.writeImmutableBuffer(fragment)
            if size == remaining {
                channels.removeValue(forKey: channel)
                return .content(channel: channel, method, header, body: body)
            }
            channels[channel] = .awaitingBody(method, header, remaining: remaining - size)
            bodies[channel] = body
            return nil
        }
    }

    private func expectation(_ state: State) -> String {
        switch state {
        case .awaitingHeader: return "header"
        case .awaitingBody: return "body"
        }
    }

    private func unexpected(_ channel: UInt16, _ state: State, _ message: String) -> AMQPWireError {
        let method: AMQPMethod
        switch state {
        case .awaitingHeader(let m), .awaitingBody(let m, _, _): method = m
        }
        return AMQPWireError(.unexpectedFrame, message, channel: channel,
                             classID: method.classID, methodID: method.methodID)
    }
}
