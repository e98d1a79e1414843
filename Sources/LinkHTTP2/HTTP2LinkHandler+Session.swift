// The nghttp2 session: creation, options, initial SETTINGS, and the C callbacks.
//
// Callbacks run inside mem_recv/mem_send. They only record events, keep per-stream state,
// and (send-data) copy bytes into the outbound ByteBuffer; they never call back into nghttp2
// and never call the delegate.

import CNGHTTP2
import NIOCore

// nghttp2's C enums arrive as structs; the raw values the callbacks compare against.
let frameTypeData = UInt8(NGHTTP2_DATA.rawValue)
let frameTypeHeaders = UInt8(NGHTTP2_HEADERS.rawValue)
let frameTypeGoaway = UInt8(NGHTTP2_GOAWAY.rawValue)
let flagEndStream = UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)
let flagNone = UInt8(NGHTTP2_FLAG_NONE.rawValue)
let errDeferred = Int(NGHTTP2_ERR_DEFERRED.rawValue)
let errTemporalCallbackFailure = Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
let dataFlagEOF = UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue)
let dataFlagNoCopy = UInt32(NGHTTP2_DATA_FLAG_NO_COPY.rawValue)
let errorCodeRefusedStream = UInt32(NGHTTP2_REFUSED_STREAM.rawValue)

extension HTTP2LinkHandler {
    /// The handler behind a callback's user data (unretained: the handler owns the session).
    @inline(__always)
    static func from(_ userData: UnsafeMutableRawPointer?) -> HTTP2LinkHandler {
        Unmanaged<HTTP2LinkHandler>.fromOpaque(userData!).takeUnretainedValue()
    }

    static func makeSession(role: HTTP2LinkRole, settings: HTTP2LinkSettings, userData: UnsafeMutableRawPointer) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        installCallbacks(callbacks)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        // Window updates are sent by nghttp2 as data is received (consumed at once), unless
        // the delegate replenishes stream windows itself (see `manualStreamWindows`).
        nghttp2_option_set_no_auto_window_update(option, settings.manualStreamWindows ? 1 : 0)
        // Until the peer's SETTINGS arrive nghttp2 assumes 100 streams; ours is the same binary.
        nghttp2_option_set_peer_max_concurrent_streams(option, UInt32(clamping: settings.maxConcurrentStreams))
        // The peer is our own process: the 1,000-frame flood limits only get in the way.
        nghttp2_option_set_max_outbound_ack(option, 1 << 24)
        // Client connections going away reset their streams in bursts; that is not an attack.
        nghttp2_option_set_stream_reset_rate_limit(option, 1 << 40, 1 << 40)
        // No priority tree: closed streams need not be kept.
        nghttp2_option_set_no_closed_streams(option, 1)

        var session: OpaquePointer?
        let rv: Int32
        switch role {
        case .client: rv = nghttp2_session_client_new2(&session, callbacks, userData, option)
        case .server: rv = nghttp2_session_server_new2(&session, callbacks, userData, option)
        }
        return rv == 0 ? session : nil
    }

    func submitInitialSettings() {
        guard let session else { return }
        let frameSize = UInt32(min(max(settings.maxFrameSize, 16_384), 16_777_215))
        let streamWindow = UInt32(min(max(settings.initialStreamWindow, 0), Int(Int32.max)))
        var entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: frameSize),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: streamWindow),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: UInt32(clamping: settings.maxConcurrentStreams)),
        ]
        if role == .client {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        var rv = nghttp2_submit_settings(session, flagNone, entries, entries.count)
        if rv == 0 {
            // The connection window is not a SETTING: raise it with a WINDOW_UPDATE on stream 0.
            let window = Int32(min(max(settings.connectionWindow, 65_535), Int(Int32.max)))
            rv = nghttp2_session_set_local_window_size(session, flagNone, 0, window)
        }
        if rv != 0 {
            logger.error("http2 link: cannot submit settings", metadata: ["error": "\(String(cString: nghttp2_strerror(rv)))"])
        }
    }

    private static func installCallbacks(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            let handler = HTTP2LinkHandler.from(userData)
            let id = frame.pointee.hd.stream_id
            if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST, handler.streams[id] == nil {
                handler.streams[id] = HTTP2LinkStream(id: id)
            }
            return 0
        }

        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let name, let value else { return 0 }
            guard frame.pointee.hd.type == frameTypeHeaders, nameLength > 1, name[0] == UInt8(ascii: ":") else { return 0 }
            let handler = HTTP2LinkHandler.from(userData)
            guard let stream = handler.streams[frame.pointee.hd.stream_id] else { return 0 }
            let nameBytes = UnsafeBufferPointer(start: name, count: nameLength)
            let valueString = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            if nameBytes.elementsEqual(":method".utf8) {
                stream.method = valueString
            } else if nameBytes.elementsEqual(":path".utf8) {
                stream.path = valueString
            } else if nameBytes.elementsEqual(":status".utf8) {
                stream.status = Int(valueString) ?? 0
            }
            return 0
        }

        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            guard let data, length > 0 else { return 0 }
            HTTP2LinkHandler.from(userData).receiveData(stream: streamID, bytes: UnsafeRawBufferPointer(start: data, count: length))
            return 0
        }

        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            HTTP2LinkHandler.from(userData).frameReceived(frame.pointee)
            return 0
        }

        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            let handler = HTTP2LinkHandler.from(userData)
            if let stream = handler.streams.removeValue(forKey: streamID) {
                stream.discardQueue()
            }
            handler.record(.closed(streamID, errorCode: errorCode))
            return 0
        }

        // Diagnostics only: remember why nghttp2 is tearing the session down.
        nghttp2_session_callbacks_set_error_callback2(callbacks) { _, _, message, length, userData in
            if let message {
                let bytes = UnsafeRawBufferPointer(start: message, count: length)
                HTTP2LinkHandler.from(userData).lastLibraryError = String(decoding: bytes, as: UTF8.self)
            }
            return 0
        }

        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            if let frame, frame.pointee.hd.type == frameTypeGoaway, frame.pointee.goaway.error_code != 0 {
                HTTP2LinkHandler.from(userData).sentGoawayCode = frame.pointee.goaway.error_code
            }
            return 0
        }

        // Let DATA frames be as large as the peer allows (nghttp2 caps them at 16 KiB otherwise);
        // nghttp2 clamps the answer to the flow-control windows.
        nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks) { _, _, _, _, _, remoteMaxFrameSize, _ in
            Int(remoteMaxFrameSize)
        }

        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, frameHeader, length, _, userData in
            guard let frame, let frameHeader else { return errTemporalCallbackFailure }
            let handler = HTTP2LinkHandler.from(userData)
            return handler.writeDataFrame(
                stream: frame.pointee.hd.stream_id,
                header: UnsafeRawBufferPointer(start: frameHeader, count: 9),
                padding: frame.pointee.data.padlen,
                length: length)
        }
    }

    // MARK: Callback bodies (record only)

    /// Appends an event, first closing off any coalesced DATA so the order is kept.
    func record(_ event: HTTP2LinkEvent) {
        finishInboundData()
        events.append(event)
    }

    func finishInboundData() {
        if let data = inboundData {
            inboundData = nil
            events.append(.data(inboundDataStream, data))
        }
    }

    private func receiveData(stream id: Int32, bytes: UnsafeRawBufferPointer) {
        if inboundData != nil, inboundDataStream != id {
            finishInboundData()
        }
        if inboundData == nil {
            // Sized for the rest of this read, so one read's bytes for a stream land in one buffer.
            inboundData = allocator.buffer(capacity: max(bytes.count, readSizeHint))
            inboundDataStream = id
        }
        inboundData!.writeBytes(bytes)
        receivedSinceConsume &+= bytes.count
    }

    private func frameReceived(_ frame: nghttp2_frame) {
        let id = frame.hd.stream_id
        switch frame.hd.type {
        case frameTypeHeaders:
            if let stream = streams[id] {
                switch frame.headers.cat {
                case NGHTTP2_HCAT_REQUEST:
                    record(.opened(id, method: stream.method, path: stream.path))
                case NGHTTP2_HCAT_RESPONSE where stream.status >= 200:
                    record(.response(id, status: stream.status))
                default:
                    break  // 1xx or trailers: nothing to report
                }
            }
            if frame.hd.flags & flagEndStream != 0 {
                record(.ended(id))
            }
        case frameTypeData:
            if frame.hd.flags & flagEndStream != 0 {
                record(.ended(id))
            }
        case frameTypeGoaway:
            record(.goaway(errorCode: frame.goaway.error_code))
        default:
            break
        }
    }
}
