// LinkHTTP2 — the router↔worker link: HTTP/2 (h2c, prior knowledge) over a Unix socket,
// driven by libnghttp2.
//
// Responsibilities
// - Run one nghttp2 session per connection as an I/O-free state machine inside one NIO
//   handler: inbound bytes go to `nghttp2_session_mem_recv`, outbound bytes come from
//   `nghttp2_session_mem_send` into one ByteBuffer per write.
// - Carry opaque, ordered byte streams: each AMQP client connection is one long-lived
//   bidirectional stream (`POST /v1/connections/<id>`); ordinary requests (`GET /v1/health`)
//   share the connection. Framing of the bytes is the caller's (LinkWire's) business.
// - Batch: `send` only queues; one flush per event-loop tick (and one at read-complete) packs
//   everything queued into DATA frames of up to `maxFrameSize`, many sends per frame, and
//   writes them with one write + flush.
//
// Collaborators: the delegate (RouterServer's WorkerLinkClient, WorkerServer's
// RouterLinkSession) receives stream events; CNGHTTP2 is the C library.
//
// Invariants
// - Single event loop: every method runs on the channel's event loop; the handler is not
//   Sendable. The only hop is the per-tick flush, bound to the loop with `NIOLoopBound`.
// - No C pointer escapes this module: the session, callbacks and nghttp2 buffers are private;
//   bytes cross the boundary only as ByteBuffers.
// - nghttp2 is never re-entered: its callbacks only record events (and copy DATA bytes into
//   our outbound buffer); the delegate is called after mem_recv/mem_send have returned.
// - The session holds an unretained pointer to the handler as user data; it is only invoked
//   from the handler's own calls and deleted in deinit, so it can never outlive the handler.
// - DATA is sent with NGHTTP2_DATA_FLAG_NO_COPY: the send-data callback writes the frame
//   header and the queued ByteBuffers' bytes straight into the outbound ByteBuffer.

import CNGHTTP2
import Logging
import NIOCore

/// The link's HTTP/2 connection handler, for either role. Add it as the only handler of a
/// connected (or about-to-connect) Unix-socket channel.
///
/// The delegate is held **strongly** until `linkInactive` has been delivered (or the handler
/// is removed), then released: a delegate may be owned by the link alone, and a delegate
/// holding the handler strongly does not leak.
public final class HTTP2LinkHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    /// Receives stream and connection events. See the class note on ownership.
    public var delegate: HTTP2LinkDelegate?

    public let role: HTTP2LinkRole
    let settings: HTTP2LinkSettings
    let logger: Logger

    /// The nghttp2 session; created in init, deleted in deinit.
    var session: OpaquePointer?
    var context: ChannelHandlerContext?
    var allocator = ByteBufferAllocator()

    /// Streams we know, by id: outbound queue and the request/response heads being received.
    var streams: [Int32: HTTP2LinkStream] = [:]
    /// Events recorded by nghttp2 callbacks, delivered by `dispatchEvents`.
    var events: [HTTP2LinkEvent] = []
    var dispatching = false
    /// DATA bytes of the current read being coalesced for one stream.
    var inboundData: ByteBuffer?
    var inboundDataStream: Int32 = 0
    var readSizeHint = 0
    /// DATA bytes received since the connection window was last replenished (manual windows).
    var receivedSinceConsume = 0
    /// Bytes of the flush in progress (filled by mem_send results and the send-data callback).
    var outbound: ByteBuffer?

    var channelIsActive = false
    var flushScheduled = false
    /// Set once the connection is gone (or failed); no more streams are opened.
    var linkClosed = false
    var inactiveDelivered = false
    var failed = false
    /// Diagnostics for the one log line when nghttp2 ends the session over a protocol error.
    var lastLibraryError: String?
    var sentGoawayCode: UInt32?

    public init(role: HTTP2LinkRole, settings: HTTP2LinkSettings = .init(), logger: Logger) {
        self.role = role
        self.settings = settings
        self.logger = logger
        self.session = Self.makeSession(role: role, settings: settings, userData: Unmanaged.passUnretained(self).toOpaque())
        if session == nil {
            logger.error("http2 link: cannot create nghttp2 session")
            linkClosed = true
        } else {
            submitInitialSettings()
        }
    }

    deinit {
        // No callback can run after this: callbacks only fire inside our own nghttp2 calls.
        if let session {
            nghttp2_session_del(session)
        }
    }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.allocator = context.channel.allocator
        if session == nil {
            context.close(promise: nil)  // nothing we can do without a session; linkInactive follows
        } else if context.channel.isActive {
            activate()
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        connectionGone()
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        activate()
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        connectionGone()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let session, !linkClosed else { return }
        readSizeHint = buffer.readableBytes
        let rv = buffer.withUnsafeReadableBytes { raw -> Int in
            guard let base = raw.baseAddress, raw.count > 0 else { return 0 }
            return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), raw.count)
        }
        finishInboundData()
        if settings.manualStreamWindows, receivedSinceConsume > 0 {
            // The connection window is never what holds a stream back: give it back at once.
            nghttp2_session_consume_connection(session, receivedSinceConsume)
            receivedSinceConsume = 0
        }
        if rv < 0 {
            fail("receive", code: rv)
        }
        dispatchEvents()
        closeIfSessionDone()
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            flush()
        }
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.warning("http2 link: channel error; closing", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Closing the channel sends GOAWAY(NO_ERROR) first, so the peer sees an orderly end.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, let session, channelIsActive, !linkClosed {
            linkClosed = true  // before flushing: the finished session must not close the channel itself
            _ = nghttp2_session_terminate_session(session, UInt32(NGHTTP2_NO_ERROR.rawValue))
            flush()
        }
        context.close(mode: mode, promise: promise)
    }

    /// Closes the connection (GOAWAY and what is queued first, then the channel);
    /// `linkInactive` follows. Through the channel, so that this handler's `close` runs.
    public func closeConnection() {
        context?.channel.close(promise: nil)
    }

    // MARK: Lifecycle helpers

    private func activate() {
        guard !channelIsActive, !linkClosed else { return }
        channelIsActive = true
        flush()  // preface (client magic) + SETTINGS + connection WINDOW_UPDATE
        events.append(.active)
        dispatchEvents()
    }

    private func connectionGone() {
        linkClosed = true
        channelIsActive = false
        guard !inactiveDelivered else { return }
        finishInboundData()
        events.append(.inactive)
        dispatchEvents()
    }

    /// Logs one line, closes the channel; `linkInactive` follows from channelInactive.
    func fail(_ operation: String, code: Int) {
        guard !failed else { return }
        failed = true
        let reason = String(cString: nghttp2_strerror(Int32(truncatingIfNeeded: code)))
        logger.error("http2 link: protocol error; closing the connection", metadata: [
            "operation": "\(operation)", "error": "\(reason)", "code": "\(code)",
        ])
        linkClosed = true
        // Best effort: push out the GOAWAY nghttp2 may have queued for the peer.
        if operation != "send" { flush() }
        context?.close(promise: nil)
    }

    func closeIfSessionDone() {
        guard let session, channelIsActive, !linkClosed else { return }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            if let code = sentGoawayCode {
                logger.error("http2 link: protocol error; closing the connection", metadata: [
                    "goaway": "\(code)", "error": "\(lastLibraryError ?? "-")",
                ])
            } else {
                logger.debug("http2 link: session finished; closing the connection")
            }
            linkClosed = true
            context?.close(promise: nil)
        }
    }

    // MARK: Delegate dispatch

    /// Delivers recorded events in order. Re-entrant calls (a delegate that flushes) return at
    /// once; the outer loop picks up what they add.
    func dispatchEvents() {
        guard !dispatching else { return }
        dispatching = true
        defer { dispatching = false }
        var index = 0
        while index < events.count {
            let event = events[index]
            index += 1
            if inactiveDelivered { continue }
            deliver(event)
        }
        events.removeAll(keepingCapacity: true)
    }

    private func deliver(_ event: HTTP2LinkEvent) {
        switch event {
        case .active:
            delegate?.linkActive(self)
        case .opened(let id, let method, let path):
            delegate?.link(self, didOpenStream: HTTP2StreamID(value: id), method: method, path: path)
        case .response(let id, let status):
            delegate?.link(self, didReceiveResponse: HTTP2StreamID(value: id), status: status)
        case .data(let id, let data):
            delegate?.link(self, stream: HTTP2StreamID(value: id), didReceive: data)
        case .ended(let id):
            delegate?.link(self, streamDidEnd: HTTP2StreamID(value: id))
        case .closed(let id, let code):
            delegate?.link(self, streamDidClose: HTTP2StreamID(value: id), errorCode: code)
        case .goaway(let code):
            logger.debug("http2 link: GOAWAY received; closing the connection", metadata: ["code": "\(code)"])
            linkClosed = true
            context?.close(promise: nil)
        case .inactive:
            inactiveDelivered = true
            streams.removeAll()
            let delegate = self.delegate
            self.delegate = nil  // break any handler ↔ delegate cycle
            delegate?.linkInactive(self)
        }
    }
}

@available(*, unavailable)
extension HTTP2LinkHandler: Sendable {}
