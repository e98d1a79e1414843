// One client's AMQP connection on the router: protocol header, handshake (PLAIN, AMQPLAIN),
// tuning, heartbeats, channels, and the connection's streams to the workers. Lives on one
// event loop with that loop's worker links, so nothing here takes a lock.
//
// Output is batched: frames for the client and link messages for each worker are encoded
// into buffers and written once per event-loop tick.
import AMQPWire
import Atomics
import BrokerModel
import LinkHTTP2
import LinkWire
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import RouterCore

final class AMQPConnectionHandler: ChannelInboundHandler, WorkerStreamSink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: ConnectionID
    let context: RouterContext
    let services: LoopServices
    let links: [WorkerLinkClient]
    var logger: Logger

    /// The connection's handshake, heartbeats and close handshake (RouterCore).
    var connection: ConnectionStateMachine
    var channelContext: ChannelHandlerContext?
    /// `close` was called on the socket.
    var socketClosed = false
    var headerBuffer = ByteBuffer()
    var decoder = FrameDecoder(maxFrameSize: RouterContext.maxFrameSize)
    var assembler = CommandAssembler()
    let connectedAt = WallClock.milliseconds()

    var channels = ChannelTable()
    var lastRoute = LastRoute()
    var publishPermission = PublishPermission()
    /// Synchronous requests to workers in flight, by id.
    var requests = RequestTable()

    var streams: WorkerStreams
    /// Partitions whose stream this connection lost (their worker went away) at some point.
    var streamsLost: Set<PartitionID> = []
    var clientOutbound = ByteBuffer()
    var flushScheduled = false
    /// How this connection's socket is read (ReadPacing).
    let readPacing: ReadPacing
    /// Channels whose confirms are sent at the next flush (see `RouterChannel.confirmsDue`).
    var channelsWithConfirmsDue: [RouterChannel] = []

    var heartbeatTask: RepeatedTask?
    var handshakeTimer: Scheduled<Void>?
    /// Reading from the client is paused because a worker stream has too much queued.
    var readPaused = false
    /// Reading from the client is paused because it published during a resource alarm.
    var blockedByAlarm = false

    var vhost: VHost { connection.vhost }
    /// The loop's clock (virtual under test).
    var now: NIODeadline { services.eventLoop.now }
    var frameMax: UInt32 { connection.frameMax }

    /// On the TLS listener: how a client certificate names its user (for EXTERNAL).
    let certificateLogin: CertificateLogin?

    init(id: ConnectionID, context: RouterContext, services: LoopServices, logger: Logger, certificateLogin: CertificateLogin? = nil) {
        self.certificateLogin = certificateLogin
        self.id = id
        self.context = context
        self.services = services
        self.links = services.links
        self.streams = WorkerStreams(partitions: services.links.count)
        self.readPacing = ReadPacing(share: services.readShare)
        self.connection = ConnectionStateMachine(settings: certificateLogin == nil ? context.connectionSettings : context.tlsConnectionSettings,
                                                 now: services.eventLoop.now)
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(id.value)"
    }

    // MARK: Channel events

    func channelActive(context ctx: ChannelHandlerContext) {
        let open = context.openConnections.wrappingIncrementThenLoad(ordering: .relaxed)
        if let limit = context.maxConnections, open > limit {
            // As RabbitMQ's connection_max: the socket is closed before any AMQP is spoken.
            logger.warning("refused a client connection: connection_max (\(limit)) reached")
            socketClosed = true
            ctx.close(promise: nil)
            return
        }
        channelContext = ctx
        clientOutbound = ctx.channel.allocator.buffer(capacity: 4096)
        services.connections[id] = self
        services.stats.connectionsOpened &+= 1
        if let remote = ctx.channel.remoteAddress {
            logger[metadataKey: "peer"] = "\(remote)"
            connection.fromLoopback = remote.isLoopback
        }
        logger.debug("client connected")
        handshakeTimer = ctx.eventLoop.scheduleTask(in: connection.settings.handshakeTimeout) { [weak self] in
            guard let self else { return }
            self.perform(self.connection.handshakeTimedOut())
        }
    }

    /// TLS is up: the client certificate, if any, names the user EXTERNAL logs in as.
    func userInboundEventTriggered(context ctx: ChannelHandlerContext, event: Any) {
        if let certificateLogin, case .handshakeCompleted? = event as? TLSUserEvent,
           let certificate = try? ctx.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate,
           let der = try? certificate.toDERBytes() {
            connection.certificateUser = certificateLogin.userName(fromDER: der)
        }
        ctx.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context ctx: ChannelHandlerContext) {
        context.openConnections.wrappingDecrement(ordering: .relaxed)
        if connection.admittedToVHost { context.leaveVHost(vhost) }
        guard channelContext != nil else { return }  // refused at once (connection_max)
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
        let filled = bytes.writableBytes == 0  // as NIO decides whether more may be waiting
        services.stats.bytesReceived &+= UInt64(bytes.readableBytes)
        connection.received(now: now)
        if connection.awaitsProtocolHeader {
            headerBuffer.writeBuffer(&bytes)
            perform(connection.protocolHeader(ProtocolHeader.match(&headerBuffer)))
            guard !connection.awaitsProtocolHeader, !connection.isClosed else { return }
            bytes = headerBuffer
            headerBuffer = ByteBuffer()
        }
        guard !connection.isClosed else { return }
        let received = bytes.readableBytes
        let start = NIODeadline.now().uptimeNanoseconds
        let publishedBefore = services.stats.published
        defer { paceReads(ctx, bytes: received, filled: filled, published: services.stats.published != publishedBefore, start: start) }
        decoder.append(bytes)
        do {
            while !connection.isClosed {
                if connection.isOpen, assembler.isIdle,
                   let publish = decoder.nextWholePublish(maxBodySize: assembler.maxBodySize) {
                    handle(publish)
                    continue
                }
                guard let frame = try decoder.nextFrame() else { break }
                if connection.isClosing {
                    // Only connection.close and close-ok still mean anything.
                    if case .method(0, let method) = frame { perform(connection.receive(method, now: now)) }
                    continue
                }
                guard let command = try assembler.process(frame) else { continue }
                handle(command)
            }
        } catch {
            let text = "\(error.code.text) - \(error.message)"
            closeConnection(error.code, text)
        }
    }

    func channelReadComplete(context ctx: ChannelHandlerContext) {
        flush()
    }

    /// Tells the read's pacing what it held and took, and sets the reads per turn it asks for
    /// when the loop's bulk publishers come and go (ReadPacing).
    private func paceReads(_ ctx: ChannelHandlerContext, bytes: Int, filled: Bool, published: Bool, start: UInt64) {
        let end = NIODeadline.now().uptimeNanoseconds
        guard let reads = readPacing.record(bytes: bytes, filled: filled, published: published, start: start, end: end) else { return }
        try? ctx.channel.syncOptions?.setOption(.maxMessagesPerRead, value: UInt(reads))
    }

    // MARK: Commands

    private func handle(_ command: Command) {
        switch command {
        case .heartbeat:
            return
        case .method(0, let method):
            perform(connection.receive(method, now: now))
        case .method(let channel, _), .content(let channel, _, _, _):
            dispatchToChannel(channel, command)
        }
    }

    private func dispatchToChannel(_ number: UInt16, _ command: Command) {
        let channel = channels[number]
        switch connection.route(command, toChannel: number, exists: channel != nil, openChannels: channels.count) {
        case .refused(let actions):
            perform(actions)
        case .open:
            channels[number] = RouterChannel(number: ChannelNumber(number))
            sendMethod(number, .channelOpenOk(ChannelOpenOk()))
        case .existing:
            guard let channel else { return }
            switch channel.state.admit(command) {
            case .handle: handleChannelCommand(command, on: channel)
            case .held, .drop: break
            case .answerClose: sendMethod(number, .channelCloseOk(ChannelCloseOk()))
            case .finished: channels[number] = nil
            }
        }
    }

    /// Runs the commands held back while the channel waited on a worker.
    func resume(_ channel: RouterChannel) {
        while let next = channel.state.nextHeld() {
            handleChannelCommand(next, on: channel)
        }
    }

    // MARK: Connection actions

    /// Carries out what the connection state machine decided.
    func perform(_ actions: [ConnectionAction]) {
        for action in actions {
            switch action {
            case .send(let method):
                sendMethod(0, method)
            case .sendHeartbeat:
                FrameEncoder.encode(.heartbeat, into: &clientOutbound)
                flush()
            case .rejectProtocolHeader:
                var reply = ByteBuffer()
                reply.writeBytes(ProtocolHeader.amqp091)
                channelContext?.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in self.closeSocket() }
            case .tuned(let frameMax):
                decoder.maxFrameSize = frameMax
            case .armHeartbeatCheck(let interval):
                heartbeatTask = channelContext?.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
                    guard let self else { return }
                    self.perform(self.connection.heartbeatCheck(now: self.now, readingPaused: self.readPaused || self.blockedByAlarm))
                }
            case .disarmHandshakeTimer:
                handshakeTimer?.cancel()
            case .releaseWorkers:
                flush()
                releaseWorkers()
            case .closeSocket(let delay) where delay == .zero:
                closeSocket()
            case .closeSocket(let delay):
                channelContext?.eventLoop.scheduleTask(in: delay) { [weak self] in self?.closeSocket() }
            case .report(let report):
                log(report)
            case .deferred(let delay, let later):
                channelContext?.eventLoop.scheduleTask(in: delay) { [weak self] in self?.perform(later) }
            }
        }
    }

    private func log(_ report: ConnectionReport) {
        switch report {
        case .unsupportedProtocolHeader(let header):
            logger.info("closing connection: unsupported protocol header \(header)")
        case .loginRefused(let user, let mechanism, let reason):
            logger.info("authentication failed", metadata: ["user": "\(user)", "mechanism": "\(mechanism)", "reason": "\(reason)"])
        case .opened(let user, let vhost):
            logger.info("connection open", metadata: ["user": "\(user)", "vhost": "\(vhost.name)"])
        case .clientClosed(let code, let text):
            logger.info("client closed connection", metadata: ["code": "\(code)", "text": "\(text)"])
        case .closingWithError(let code, let text):
            logger.info("closing connection with error", metadata: ["code": "\(code.rawValue)", "text": "\(text)"])
        case .missedHeartbeats(let seconds):
            logger.warning("closing connection: missed heartbeats from client, timeout: \(seconds)s")
        case .handshakeTimedOut:
            logger.warning("closing connection: handshake timeout")
        case .secretUpdated(let reason):
            logger.info("secret updated", metadata: ["reason": "\(reason)"])
        }
    }

    // MARK: Closing

    /// A connection exception: connection.close, then close-ok or a timeout (spec 4.2.8.x).
    func closeConnection(_ code: ReplyCode, _ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) {
        perform(connection.close(code, text, classID: classID, methodID: methodID))
    }

    func closeConnection(_ code: ReplyCode, _ text: String, method: AMQPMethod) {
        closeConnection(code, text, classID: method.classID, methodID: method.methodID)
    }

    func closeSocket() {
        guard !socketClosed else { return }
        flush()
        socketClosed = true
        connection.socketClosing()
        channelContext?.close(promise: nil)
    }

    /// The socket is gone: every worker forgets this connection (its stream ends).
    private func connectionGone() {
        socketClosed = true
        connection.socketClosing()
        services.connections[id] = nil
        heartbeatTask?.cancel()
        handshakeTimer?.cancel()
        releaseWorkers()
        logger.debug("client disconnected")
    }

    private func releaseWorkers() {
        services.blocked[id] = nil
        for channel in channels.values { unregisterReplyConsumer(channel) }
        let owner = id
        // The worker of an exclusive queue this connection lost its stream to (its link was
        // down, as while a partition moves; a handover may have carried the queue to a new
        // worker) must still hear of the close, to delete it.
        if !streamsLost.isEmpty {
            let owned = Set(context.topology.snapshot.exclusiveQueues(of: owner).map(\.partition))
            for partition in streamsLost.intersection(owned) where streams[partition] == nil {
                links[partition.index].connectionClosed(owner)
            }
            streamsLost.removeAll()
        }
        guard !streams.isEmpty || !channels.isEmpty else { return }
        for (partition, stream) in streams.open {
            let pending = streams.outbound[partition.index]
            if pending.readableBytes > 0 { links[partition.index].send(pending, on: stream) }
            links[partition.index].endStream(stream)
        }
        streams.removeAll()
        channels.removeAll()
        try? context.topology.update { (t: inout Topology) throws(TopologyError) in _ = t.removeExclusiveQueues(of: owner) }
    }

    // MARK: Backpressure

    static let linkHighWater = 512 << 10
    static let linkLowWater = 128 << 10

    /// A publisher faster than a worker (or than the link to it) is paused: its reads stop
    /// while any of its worker streams has more than `linkHighWater` bytes queued, and
    /// resume once all are at `linkLowWater` or below, as the links report after their
    /// writes. Other connections are not affected. The marks are low because a consumer's
    /// acks reach the worker behind what is queued: with 4 MiB per stream, twenty publishers
    /// outrunning two workers put a second of publishes ahead of every ack (issue 19).
    private func applyBackpressure() {
        guard maxQueuedLinkBytes() > Self.linkHighWater, let ctx = channelContext else { return }
        readPaused = true
        ctx.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        linkDrained()
    }

    /// Resumes reading when every stream is drained enough; else waits for the next one.
    func linkDrained() {
        guard readPaused, !socketClosed else { return }
        var waiting = false
        for (partition, stream) in streams.open where links[partition.index].queuedBytes(on: stream) > Self.linkLowWater {
            links[partition.index].notifyWhenDrained(stream, lowWater: Self.linkLowWater)
            waiting = true
        }
        guard !waiting else { return }
        readPaused = false
        resumeReading()
    }

    /// Reads again unless something else still holds the connection back.
    func resumeReading() {
        guard !readPaused, !blockedByAlarm, let ctx = channelContext, !socketClosed else { return }
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
        guard clientOutbound.readableBytes > 0, let ctx = channelContext, !socketClosed else { return }
        connection.sent(now: now)
        services.stats.bytesSent &+= UInt64(clientOutbound.readableBytes)
        ctx.writeAndFlush(wrapOutboundOut(clientOutbound), promise: nil)
        clientOutbound = ctx.channel.allocator.buffer(capacity: 4096)
    }
}
