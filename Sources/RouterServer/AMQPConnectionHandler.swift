// One client's AMQP connection on the router: protocol header, handshake (PLAIN, AMQPLAIN),
// tuning, heartbeats, channels, and the connection's streams to the workers. Lives on one
// event loop with that loop's worker links, so nothing here takes a lock.
//
// Output is batched: frames for the client and link messages for each worker are encoded
// into buffers and written once per event-loop tick.
import AMQPWire
import BrokerModel
import LinkHTTP2
import LinkWire
import Logging
import NIOCore
import RouterCore

final class AMQPConnectionHandler: ChannelInboundHandler, WorkerStreamSink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case awaitingProtocolHeader
        case awaitingStartOk
        case awaitingTuneOk
        case awaitingOpen
        case open
        /// We sent connection.close; waiting for close-ok (or a timeout).
        case closing
        case closed
    }

    let id: ConnectionID
    let context: RouterContext
    let services: LoopServices
    let links: [WorkerLinkClient]
    var logger: Logger

    var phase: Phase = .awaitingProtocolHeader
    var channelContext: ChannelHandlerContext?
    var headerBuffer = ByteBuffer()
    var decoder = FrameDecoder(maxFrameSize: RouterContext.maxFrameSize)
    var assembler = CommandAssembler()

    // Negotiated at tune-ok.
    var frameMax: UInt32 = RouterContext.maxFrameSize
    var channelMax: UInt16 = RouterContext.maxChannels
    var heartbeatSeconds: UInt16 = 0
    var vhost = VHost.default
    var user = ""
    var clientCapabilities = FieldTable()
    // For the management API: what the client said about itself, and when it connected.
    var clientProperties = FieldTable()
    var authMechanism = ""
    let connectedAt = WallClock.milliseconds()

    var channels = ChannelTable()
    var lastRoute = LastRoute()
    var nextRequestID: UInt32 = 0
    var requestChannels: [LinkRequestID: (channel: ChannelNumber, partition: PartitionID)] = [:]

    var streams: WorkerStreams
    var clientOutbound = ByteBuffer()
    var flushScheduled = false
    /// Channels whose confirms are sent at the next flush (see `RouterChannel.confirmsDue`).
    var channelsWithConfirmsDue: [RouterChannel] = []

    var lastReceived = NIODeadline.now()
    var lastSent = NIODeadline.now()
    var heartbeatTask: RepeatedTask?
    /// Reading from the client is paused because a worker stream has too much queued.
    var readPaused = false
    /// Reading from the client is paused because it published during a resource alarm.
    var blockedByAlarm = false
    var handshakeTimeout: Scheduled<Void>?

    init(id: ConnectionID, context: RouterContext, services: LoopServices, logger: Logger) {
        self.id = id
        self.context = context
        self.services = services
        self.links = services.links
        self.streams = WorkerStreams(partitions: services.links.count)
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(id.value)"
    }

    // MARK: Channel events

    func channelActive(context ctx: ChannelHandlerContext) {
        channelContext = ctx
        clientOutbound = ctx.channel.allocator.buffer(capacity: 4096)
        services.connections[id] = self
        services.stats.connectionsOpened &+= 1
        if let remote = ctx.channel.remoteAddress { logger[metadataKey: "peer"] = "\(remote)" }
        logger.debug("client connected")
        handshakeTimeout = ctx.eventLoop.scheduleTask(in: RouterContext.handshakeTimeout) { [weak self] in
            guard let self, self.phase != .open, self.phase != .closed else { return }
            self.logger.warning("closing connection: handshake timeout")
            self.closeSocket()
        }
    }

    func channelInactive(context ctx: ChannelHandlerContext) {
        connectionGone()
    }

    /// Deliveries flow again once the client's socket drains (see `acceptsDeliveries`).
    func channelWritabilityChanged(context ctx: ChannelHandlerContext) {
        guard ctx.channel.isWritable else { return }
        for (partition, stream) in streams.open { links[partition.index].resume(stream) }
    }

    var acceptsDeliveries: Bool { channelContext?.channel.isWritable ?? true }

    func errorCaught(context ctx: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        ctx.close(promise: nil)
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        services.stats.bytesReceived &+= UInt64(bytes.readableBytes)
        lastReceived = .now()
        if phase == .awaitingProtocolHeader {
            guard checkProtocolHeader(&bytes) else { return }
        }
        guard phase != .closed else { return }
        decoder.append(bytes)
        do {
            while phase != .closed {
                if phase == .open, assembler.isIdle,
                   let publish = decoder.nextWholePublish(maxBodySize: assembler.maxBodySize) {
                    handle(publish)
                    continue
                }
                guard let frame = try decoder.nextFrame() else { break }
                if phase == .closing {
                    // Spec: after sending close, discard everything but close-ok, and answer a
                    // close sent at the same time with close-ok.
                    switch frame {
                    case .method(0, .connectionCloseOk): closeSocket()
                    case .method(0, .connectionClose): sendMethod(0, .connectionCloseOk(ConnectionCloseOk()))
                    default: break
                    }
                    continue
                }
                guard let command = try assembler.process(frame) else { continue }
                handle(command)
            }
        } catch {
            let text = "\(error.code.text) - \(error.message)"
            logger.info("closing connection: \(text)")
            closeConnection(error.code, text)
        }
    }

    func channelReadComplete(context ctx: ChannelHandlerContext) {
        flush()
    }

    /// Validates "AMQP 0 0 9 1" (or 0-9's "AMQP 1 1 0 9"); a wrong header gets ours back and
    /// the socket closes (spec 4.2.2).
    private func checkProtocolHeader(_ bytes: inout ByteBuffer) -> Bool {
        headerBuffer.writeBuffer(&bytes)
        guard headerBuffer.readableBytes >= 8 else { return false }
        if case .rejected(let header) = ProtocolHeader.match(&headerBuffer) {
            logger.info("closing connection: unsupported protocol header \(header)")
            var reply = ByteBuffer()
            reply.writeBytes(ProtocolHeader.amqp091)
            channelContext?.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in self.closeSocket() }
            phase = .closed
            return false
        }
        bytes = headerBuffer
        headerBuffer = ByteBuffer()
        phase = .awaitingStartOk
        sendMethod(0, .connectionStart(context.connectionStart))
        return true
    }

    // MARK: Commands

    private func handle(_ command: Command) {
        switch command {
        case .heartbeat:
            return
        case .method(0, let method):
            handleConnectionMethod(method)
        case .method(let channel, let method):
            dispatchToChannel(channel, .method(channel: channel, method))
        case .content(let channel, _, _, _):
            dispatchToChannel(channel, command)
        }
    }

    private func dispatchToChannel(_ number: UInt16, _ command: Command) {
        guard phase == .open else {
            return closeConnection(.commandInvalid, "COMMAND_INVALID - connection is not open")
        }
        if case .method(_, .channelOpen) = command {
            return openChannel(number)
        }
        guard let channel = channels[number] else {
            return closeConnection(.channelError, "CHANNEL_ERROR - expected 'channel.open'", classID: command.classID, methodID: command.methodID)
        }
        if channel.phase == .closing {
            // Spec: after channel.close, drop all but channel.close(-ok).
            switch command {
            case .method(_, .channelCloseOk):
                channelFinished(channel)
            case .method(_, .channelClose):
                sendMethod(number, .channelCloseOk(ChannelCloseOk()))
            default:
                break
            }
            return
        }
        if channel.isBusy {
            channel.deferred.append(command)
        } else {
            handleChannelCommand(command, on: channel)
        }
    }

    /// Runs the commands held back while the channel waited on a worker.
    func resume(_ channel: RouterChannel) {
        while !channel.isBusy, channel.phase == .open, let next = channel.deferred.popFirst() {
            handleChannelCommand(next, on: channel)
        }
        if channel.phase != .open { channel.deferred.removeAll() }
    }

    // MARK: Connection class

    private func handleConnectionMethod(_ method: AMQPMethod) {
        switch (phase, method) {
        case (.awaitingStartOk, .connectionStartOk(let startOk)):
            handleStartOk(startOk)
        case (.awaitingTuneOk, .connectionTuneOk(let tuneOk)):
            handleTuneOk(tuneOk)
        case (.awaitingOpen, .connectionOpen(let open)):
            guard open.virtualHost == VHost.default.name else {
                return closeConnection(.notAllowed, "NOT_ALLOWED - vhost \(open.virtualHost) not found", method: method)
            }
            vhost = VHost(open.virtualHost)
            phase = .open
            handshakeTimeout?.cancel()
            sendMethod(0, .connectionOpenOk(ConnectionOpenOk()))
            logger.info("connection open", metadata: ["user": "\(user)", "vhost": "\(vhost.name)"])
        case (_, .connectionClose(let close)):
            logger.info("client closed connection", metadata: ["code": "\(close.replyCode)", "text": "\(close.replyText)"])
            sendMethod(0, .connectionCloseOk(ConnectionCloseOk()))
            phase = .closing
            flush()
            releaseWorkers()
            // As RabbitMQ does, the socket stays open, its input discarded, until the client
            // closes it (or a timeout): closing first would answer whatever the client still
            // sends (a second close, a heartbeat) with a reset, which can destroy the close-ok.
            closeSocket(after: RouterContext.closeOkTimeout)
        case (_, .connectionCloseOk):
            closeSocket()
        case (.open, .connectionBlocked), (.open, .connectionUnblocked):
            break  // clients may not send these; ignore like RabbitMQ
        case (.open, .connectionUpdateSecret(let update)):
            updateSecret(update)
        default:
            // rabbit_reader's handle_method0 fallback, word for word.
            closeConnection(.channelError, "CHANNEL_ERROR - unexpected method in connection state \(rabbitState)", method: method)
        }
    }

    /// The connection state as RabbitMQ names it in its errors.
    private var rabbitState: String {
        switch phase {
        case .awaitingProtocolHeader, .awaitingStartOk: return "starting"
        case .awaitingTuneOk: return "tuning"
        case .awaitingOpen: return "opening"
        case .open: return "running"
        case .closing, .closed: return "closing"
        }
    }

    private func handleStartOk(_ startOk: ConnectionStartOk) {
        clientCapabilities = startOk.clientProperties.capabilities
        clientProperties = startOk.clientProperties
        authMechanism = startOk.mechanism
        guard SASL.mechanisms.contains(startOk.mechanism) else {
            return closeConnection(.commandInvalid, "COMMAND_INVALID - unknown authentication mechanism '\(startOk.mechanism)'")
        }
        guard let credentials = SASL.credentials(mechanism: startOk.mechanism, response: startOk.response) else {
            return closeConnection(.accessRefused, "ACCESS_REFUSED - malformed \(startOk.mechanism) response")
        }
        guard context.users.authenticate(credentials.user, credentials.password) else {
            logger.info("authentication failed", metadata: ["user": "\(credentials.user)", "mechanism": "\(startOk.mechanism)"])
            return closeConnection(.accessRefused, "ACCESS_REFUSED - Login was refused using authentication mechanism \(startOk.mechanism). For details see the broker logfile.")
        }
        user = credentials.user
        phase = .awaitingTuneOk
        sendMethod(0, .connectionTune(tune))
    }

    private var tune: ConnectionTune {
        ConnectionTune(channelMax: RouterContext.maxChannels, frameMax: RouterContext.maxFrameSize,
                       heartbeat: context.heartbeatSeconds)
    }

    private func handleTuneOk(_ tuneOk: ConnectionTuneOk) {
        if let refused = TuneNegotiation.refusal(of: tuneOk, offered: tune) {
            return closeConnection(refused.code, refused.text, classID: ConnectionTune.classID, methodID: ConnectionTune.methodID)
        }
        frameMax = tuneOk.frameMax
        decoder.maxFrameSize = frameMax
        channelMax = tuneOk.channelMax
        heartbeatSeconds = tuneOk.heartbeat
        phase = .awaitingOpen
        startHeartbeats()
    }

    // MARK: Heartbeats

    private func startHeartbeats() {
        guard heartbeatSeconds > 0, let ctx = channelContext else { return }
        let interval = TimeAmount.seconds(Int64(heartbeatSeconds))
        let half = TimeAmount.milliseconds(Int64(heartbeatSeconds) * 500)
        // Send at half the interval, as RabbitMQ does; a peer silent for two intervals is dead.
        heartbeatTask = ctx.eventLoop.scheduleRepeatedTask(initialDelay: half, delay: half) { [weak self] _ in
            guard let self, self.phase != .closed else { return }
            let now = NIODeadline.now()
            if self.readPaused || self.blockedByAlarm {
                // Not reading (backpressure or an alarm) means not seeing its heartbeats:
                // the monitor pauses, as RabbitMQ's does for a blocked connection.
                self.lastReceived = now
            } else if now - self.lastReceived > interval * 2 {
                self.logger.warning("closing connection: missed heartbeats from client, timeout: \(self.heartbeatSeconds)s")
                self.closeSocket()
                return
            }
            if now - self.lastSent >= half {
                FrameEncoder.encode(.heartbeat, into: &self.clientOutbound)
                self.flush()
            }
        }
    }

    // MARK: Closing

    /// A connection exception: send connection.close and wait for close-ok (spec 4.2.8.x).
    func closeConnection(_ code: ReplyCode, _ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) {
        guard phase != .closing, phase != .closed else { return }
        logger.info("closing connection with error", metadata: ["code": "\(code.rawValue)", "text": "\(text)"])
        let wasHandshaking = phase == .awaitingStartOk || phase == .awaitingTuneOk
        sendMethod(0, .connectionClose(ConnectionClose(replyCode: code.rawValue, replyText: text, classId: classID, methodId: methodID)))
        phase = .closing
        flush()
        releaseWorkers()
        closeSocket(after: wasHandshaking ? .milliseconds(100) : RouterContext.closeOkTimeout)
    }

    private func closeSocket(after delay: TimeAmount) {
        channelContext?.eventLoop.scheduleTask(in: delay) { [weak self] in self?.closeSocket() }
    }

    func closeConnection(_ code: ReplyCode, _ text: String, method: AMQPMethod) {
        closeConnection(code, text, classID: method.classID, methodID: method.methodID)
    }

    func closeSocket() {
        guard phase != .closed else { return }
        flush()
        phase = .closed
        channelContext?.close(promise: nil)
    }

    /// The socket is gone: every worker forgets this connection (its stream ends).
    private func connectionGone() {
        phase = .closed
        services.connections[id] = nil
        heartbeatTask?.cancel()
        handshakeTimeout?.cancel()
        releaseWorkers()
        logger.debug("client disconnected")
    }

    private func releaseWorkers() {
        services.blocked[id] = nil
        for channel in channels.values { unregisterReplyConsumer(channel) }
        guard !streams.isEmpty || !channels.isEmpty else { return }
        for (partition, stream) in streams.open {
            let pending = streams.outbound[partition.index]
            if pending.readableBytes > 0 { links[partition.index].send(pending, on: stream) }
            links[partition.index].endStream(stream)
        }
        streams.removeAll()
        channels.removeAll()
        let owner = id
        try? context.topology.update { (t: inout Topology) throws(TopologyError) in _ = t.removeExclusiveQueues(of: owner) }
    }

    // MARK: Backpressure

    static let linkHighWater = 4 << 20
    static let linkLowWater = 1 << 20

    /// A publisher faster than a worker (or than the link to it) is paused: its reads stop
    /// while any of its worker streams has more than `linkHighWater` bytes queued, and
    /// resume below `linkLowWater`. Other connections are not affected.
    private func applyBackpressure() {
        guard maxQueuedLinkBytes() > Self.linkHighWater, let ctx = channelContext else { return }
        readPaused = true
        ctx.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        checkResume()
    }

    private func checkResume() {
        guard let ctx = channelContext, phase != .closed else { return }
        ctx.eventLoop.scheduleTask(in: .milliseconds(1)) { [weak self] in
            guard let self, self.phase != .closed else { return }
            guard self.maxQueuedLinkBytes() <= Self.linkLowWater else { return self.checkResume() }
            self.readPaused = false
            self.resumeReading()
        }
    }

    /// Reads again unless something else still holds the connection back.
    func resumeReading() {
        guard !readPaused, !blockedByAlarm, let ctx = channelContext, phase != .closed else { return }
        ctx.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        ctx.read()
    }

    private func maxQueuedLinkBytes() -> Int {
        var most = 0
        for (partition, stream) in streams.open {
            most = max(most, links[partition.index].queuedBytes(on: stream))
        }
        return most
    }

    // MARK: Output

    func sendMethod(_ channel: UInt16, _ method: AMQPMethod) {
        FrameEncoder.encode(.method(channel: channel, method), into: &clientOutbound)
        scheduleFlush()
    }

    func sendContent(_ channel: UInt16, _ method: AMQPMethod, properties: ByteBuffer, body: ByteBuffer) {
        let header = ContentHeader(classID: 60, weight: 0, bodySize: UInt64(body.readableBytes), rawProperties: properties)
        FrameEncoder.encodeContent(channel: channel, method: method, header: header, body: body, frameMax: frameMax, into: &clientOutbound)
        scheduleFlush()
    }

    /// Queues a request for a worker, opening this connection's stream to it if needed.
    func send(_ request: LinkRequest, to partition: PartitionID) -> Bool {
        if streams[partition] == nil {
            guard let stream = links[partition.index].openStream(for: id, sink: self) else { return false }
            streams[partition] = stream
        }
        request.write(into: &streams.outbound[partition.index])
        scheduleFlush()
        return true
    }

    func makeRequestID(channel: ChannelNumber, partition: PartitionID) -> LinkRequestID {
        nextRequestID &+= 1
        let requestID = LinkRequestID(nextRequestID)
        requestChannels[requestID] = (channel, partition)
        return requestID
    }

    func scheduleFlush() {
        guard !flushScheduled, let ctx = channelContext else { return }
        flushScheduled = true
        ctx.eventLoop.execute { self.flush() }
    }

    /// One write to the client and one hand-off per worker stream, per tick.
    func flush() {
        flushScheduled = false
        emitDueConfirms()
        var handedOff = false
        for index in streams.outbound.indices where streams.outbound[index].readableBytes > 0 {
            if let stream = streams[PartitionID(index)] { links[index].send(streams.outbound[index], on: stream) }
            streams.outbound[index] = ByteBuffer()
            handedOff = true
        }
        if handedOff, !readPaused { applyBackpressure() }
        guard clientOutbound.readableBytes > 0, let ctx = channelContext, phase != .closed else { return }
        lastSent = .now()
        services.stats.bytesSent &+= UInt64(clientOutbound.readableBytes)
        ctx.writeAndFlush(wrapOutboundOut(clientOutbound), promise: nil)
        clientOutbound = ctx.channel.allocator.buffer(capacity: 4096)
    }
}

extension Command {
    var classID: UInt16 {
        switch self {
        case .method(_, let m), .content(_, let m, _, _): return m.classID
        case .heartbeat: return 0
        }
    }

    var methodID: UInt16 {
        switch self {
        case .method(_, let m), .content(_, let m, _, _): return m.methodID
        case .heartbeat: return 0
        }
    }
}
