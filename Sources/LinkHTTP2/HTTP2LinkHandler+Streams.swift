// The public stream API and the outbound path: queue → data source → DATA frames → one write.
//
// Nothing here writes at once. Each call queues and schedules one flush for the current
// event-loop tick; the flush drains nghttp2 with mem_send into one ByteBuffer (split at
// `maxWriteSize`) and writes it.

import CNGHTTP2
import NIOCore

extension HTTP2LinkHandler {
    // MARK: Client

    /// Submits request HEADERS on a new stream (client role only). With `endStream: false`
    /// the stream stays open for `send`/`endStream`; with `true` the request has no body.
    ///
    /// Returns `.invalid` when no stream can be opened (server role, link closed, stream ids
    /// exhausted); the delegate then also gets `streamDidClose(.invalid, REFUSED_STREAM)`.
    @discardableResult
    public func openStream(method: String, path: String, endStream: Bool) -> HTTP2StreamID {
        guard role == .client, let session, !linkClosed else {
            logger.debug("http2 link: cannot open a stream", metadata: ["path": "\(path)", "closed": "\(linkClosed)"])
            refuseOpen()
            return .invalid
        }
        let fields = [(":method", method), (":scheme", "http"), (":authority", "broker"), (":path", path)]
        let id: Int32 = withHeaderBlock(fields) { nva, count in
            if endStream {
                return nghttp2_submit_request(session, nil, nva, count, nil, nil)
            }
            var provider = Self.dataProvider()
            return nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        guard id > 0 else {
            logger.error("http2 link: cannot open a stream", metadata: ["error": "\(String(cString: nghttp2_strerror(id)))"])
            refuseOpen()
            return .invalid
        }
        let stream = HTTP2LinkStream(id: id)
        stream.headersSubmitted = true
        stream.hasDataProvider = !endStream
        stream.endRequested = endStream
        stream.localEnded = endStream
        streams[id] = stream
        scheduleFlush()
        return HTTP2StreamID(value: id)
    }

    private func refuseOpen() {
        record(.closed(HTTP2StreamID.invalid.value, errorCode: errorCodeRefusedStream))
        if context != nil { scheduleFlush() }
    }

    // MARK: Server

    /// Submits response HEADERS (`:status` plus `headers`, names lower-cased) on a stream the
    /// peer opened. With `endStream: false` the stream stays open for `send`/`endStream`.
    /// Data sent before the response is queued and follows it.
    public func respond(stream: HTTP2StreamID, status: Int, headers: [(String, String)] = [], endStream: Bool) {
        guard let session, let state = streams[stream.value], !state.headersSubmitted else {
            logger.debug("http2 link: respond on an unknown or answered stream", metadata: ["stream": "\(stream.value)"])
            return
        }
        state.headersSubmitted = true
        if endStream { state.endRequested = true }
        let withBody = !endStream || state.queuedBytes > 0
        var fields = [(":status", String(status))]
        for (name, value) in headers { fields.append((name.lowercased(), value)) }
        let rv: Int32 = withHeaderBlock(fields) { nva, count in
            if withBody {
                var provider = Self.dataProvider()
                return nghttp2_submit_response(session, stream.value, nva, count, &provider)
            }
            return nghttp2_submit_response(session, stream.value, nva, count, nil)
        }
        if rv != 0 {
            logger.error("http2 link: cannot respond", metadata: [
                "stream": "\(stream.value)", "error": "\(String(cString: nghttp2_strerror(rv)))",
            ])
            resetStream(stream, errorCode: UInt32(NGHTTP2_INTERNAL_ERROR.rawValue))
            return
        }
        state.hasDataProvider = withBody
        state.localEnded = !withBody
        scheduleFlush()
    }

    // MARK: Both roles

    /// Queues bytes on a stream; they go out, in order, in the next flush, sharing DATA frames
    /// with other sends. Ignored after `endStream`/`resetStream` or once the stream is closed.
    public func send(stream: HTTP2StreamID, data: ByteBuffer) {
        guard data.readableBytes > 0 else { return }
        guard let state = streams[stream.value], !state.endRequested else {
            logger.trace("http2 link: send on a closed or ended stream dropped", metadata: ["stream": "\(stream.value)"])
            return
        }
        state.append(data)
        if state.deferred { resume(state) }
        scheduleFlush()
    }

    /// END_STREAM after everything queued on the stream.
    public func endStream(_ stream: HTTP2StreamID) {
        guard let state = streams[stream.value], !state.endRequested else { return }
        state.endRequested = true
        if state.deferred { resume(state) }
        scheduleFlush()
    }

    /// RST_STREAM with `errorCode` (RFC 9113 §7); queued bytes are dropped. The delegate gets
    /// `streamDidClose` for it once the frame is out.
    public func resetStream(_ stream: HTTP2StreamID, errorCode: UInt32) {
        guard let session, let state = streams[stream.value] else { return }
        state.discardQueue()
        state.endRequested = true
        _ = nghttp2_submit_rst_stream(session, flagNone, stream.value, errorCode)
        scheduleFlush()
    }

    /// With `manualStreamWindows`: `bytes` received on `stream` have been handled, so the
    /// peer may send that many more (a WINDOW_UPDATE goes out with the next flush).
    public func consumed(stream: HTTP2StreamID, bytes: Int) {
        guard settings.manualStreamWindows, bytes > 0, let session, !linkClosed, streams[stream.value] != nil else { return }
        nghttp2_session_consume_stream(session, stream.value, bytes)
        scheduleFlush()
    }

    /// Bytes queued on a stream and not yet written: the caller's view of backpressure.
    public func queuedBytes(on stream: HTTP2StreamID) -> Int {
        streams[stream.value]?.queuedBytes ?? 0
    }

    /// Drains everything nghttp2 has to send into one buffer (split at `maxWriteSize`), writes
    /// it and flushes the channel. Stops while the channel is not writable and resumes when it
    /// is again. Usually called for you, once per event-loop tick.
    public func flush() {
        defer {
            dispatchEvents()
            closeIfSessionDone()
        }
        guard let session, let context, channelIsActive else { return }
        var wrote = false
        while context.channel.isWritable {
            var chunk: UnsafePointer<UInt8>? = nil
            let n = nghttp2_session_mem_send(session, &chunk)
            if n < 0 {
                fail("send", code: n)
                return
            }
            if n > 0, let chunk {
                appendOutbound(UnsafeRawBufferPointer(start: chunk, count: n))
            }
            let pending = outbound?.readableBytes ?? 0
            if n == 0 || pending >= settings.maxWriteSize {
                if pending > 0 {
                    let buffer = outbound!
                    outbound = nil
                    context.write(wrapOutboundOut(buffer), promise: nil)
                    wrote = true
                }
                if n == 0 { break }
            }
        }
        if let rest = outbound, rest.readableBytes > 0 {
            outbound = nil
            context.write(wrapOutboundOut(rest), promise: nil)
            wrote = true
        }
        if wrote {
            context.flush()
            delegate?.linkDidWrite(self)
        }
    }

    // MARK: Internals

    /// One flush per event-loop tick, however many sends precede it.
    func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        // The handler is not Sendable; NIOLoopBound checks the closure runs on its own loop.
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            handler.flushScheduled = false
            handler.flush()
        }
    }

    private func resume(_ state: HTTP2LinkStream) {
        state.deferred = false
        guard let session else { return }
        _ = nghttp2_session_resume_data(session, state.id)
    }

    private func appendOutbound(_ bytes: UnsafeRawBufferPointer) {
        if outbound == nil {
            outbound = allocator.buffer(capacity: max(bytes.count, 4096))
        }
        outbound!.writeBytes(bytes)
    }

    /// A data provider whose source is looked up by stream id (no pointer is stored in it).
    static func dataProvider() -> nghttp2_data_provider {
        nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { _, streamID, _, length, dataFlags, _, userData in
            guard let dataFlags else { return errDeferred }
            return HTTP2LinkHandler.from(userData).readData(stream: streamID, max: length, flags: dataFlags)
        }
    }

    /// The data source (inside mem_send): say how many queued bytes the next DATA frame takes,
    /// without copying (NO_COPY); `writeDataFrame` copies them. Empty queue → DEFERRED, or EOF
    /// once END_STREAM was asked for.
    func readData(stream id: Int32, max length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let state = streams[id] else {
            flags.pointee |= dataFlagEOF
            return 0
        }
        if state.queuedBytes == 0 {
            if state.endRequested {
                state.localEnded = true
                flags.pointee |= dataFlagEOF
                return 0
            }
            state.deferred = true
            return errDeferred
        }
        let count = min(length, state.queuedBytes)
        flags.pointee |= dataFlagNoCopy
        if state.endRequested && count == state.queuedBytes {
            state.localEnded = true
            flags.pointee |= dataFlagEOF
        }
        return count
    }

    /// The send-data callback (inside mem_send): frame header, then `length` queued bytes,
    /// appended to the outbound buffer in the order nghttp2 emits frames.
    func writeDataFrame(stream id: Int32, header: UnsafeRawBufferPointer, padding: Int, length: Int) -> Int32 {
        guard let state = streams[id], state.queuedBytes >= length else {
            return errTemporalCallbackFailure  // nghttp2 resets the stream
        }
        if outbound == nil {
            outbound = allocator.buffer(capacity: max(header.count + padding + length, 4096))
        }
        outbound!.writeBytes(header)
        if padding > 0 { outbound!.writeInteger(UInt8(padding - 1)) }
        state.drain(length, into: &outbound!)
        if padding > 1 { outbound!.writeRepeatingByte(0, count: padding - 1) }
        return 0
    }

    /// Lays the header fields out in one byte array and hands nghttp2 name/value pointers into
    /// it, valid for the duration of `body` (nghttp2 copies them on submit).
    func withHeaderBlock<R>(_ fields: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        var bytes: [UInt8] = []
        var layout: [(name: Int, nameLength: Int, value: Int, valueLength: Int)] = []
        layout.reserveCapacity(fields.count)
        for (name, value) in fields {
            let nameStart = bytes.count
            bytes.append(contentsOf: name.utf8)
            let valueStart = bytes.count
            bytes.append(contentsOf: value.utf8)
            layout.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
        }
        bytes.append(0)  // never empty, so there is always a base address
        return bytes.withUnsafeMutableBufferPointer { storage in
            let base = storage.baseAddress!
            let nva = layout.map { field in
                nghttp2_nv(
                    name: base + field.name, value: base + field.value,
                    namelen: field.nameLength, valuelen: field.valueLength,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
