// One AMQP client connection of a perf run, with channel 1 open. It negotiates with
// ``ClientHandshake``, answers the runner's synchronous calls (declare, purge, qos, consume,
// confirm.select, …) in order, and then plays its role: producer (PerfConnectionHandler+
// Publish) or consumer (PerfConnectionHandler+Consume). A close or an error from the broker
// is reported once as fatal; the runner stops the run with that message.
//
// Thread-safety: every member is touched only on the channel's event loop; the runner
// reaches it with `eventLoop.submit` (hence @unchecked Sendable).
import AMQPWire
import NIOCore

/// A run-stopping error with a one-line message.
public struct PerfError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Something a connection tells the runner.
enum PerfConnectionEvent: Sendable {
    /// The run cannot continue.
    case fatal(String)
    /// Worth a line on stderr (e.g. connection.blocked).
    case notice(String)
}

/// What the runner reads from a connection.
struct ConnectionStats: Sendable {
    var sent: UInt64 = 0
    var acked: UInt64 = 0
    var nacked: UInt64 = 0
    var finishedPublishing = false
    var received: UInt64 = 0
    var outOfOrder: UInt64 = 0
    var lastReceiveNanos: UInt64 = 0
    var latency: LatencyHistogram? = nil
}

final class PerfConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let name: String
    let eventLoop: EventLoop
    /// Succeeds once channel 1 is open.
    let ready: EventLoopPromise<Void>
    let report: @Sendable (PerfConnectionEvent) -> Void
    private(set) var frameMax: UInt32 = 131_072
    var stats = ConnectionStats()
    var context: ChannelHandlerContext?
    var producer: ProducerState?
    var consumer: ConsumerState?
    /// Frames (acks) produced while reading, written once per read burst.
    var pendingOutput: ByteBuffer?
    /// Receive time of the bytes being processed.
    var readNanos: UInt64 = 0
    private var handshake: ClientHandshake
    private var decoder = FrameDecoder(maxFrameSize: 0)
    private var deliveries = DeliveryTracker()
    private var calls = CircularBuffer<EventLoopPromise<AMQPMethod>>()
    private var closing = false
    private var failed = false

    init(name: String, uri: AMQPURI, eventLoop: EventLoop, report: @escaping @Sendable (PerfConnectionEvent) -> Void) {
        self.name = name
        self.eventLoop = eventLoop
        self.ready = eventLoop.makePromise()
        self.report = report
        self.handshake = ClientHandshake(uri: uri)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        var header = context.channel.allocator.buffer(capacity: 8)
        header.writeBytes(ProtocolHeader.amqp091)
        context.writeAndFlush(wrapOutboundOut(header), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        producer?.running = false
        if !closing {
            fail(handshake.isOpen ? "connection closed by the broker"
                : "connection closed by the broker during the handshake (check the user, password and vhost)")
        }
        let error = PerfError("\(name): connection closed")
        ready.fail(error)
        while let call = calls.popFirst() { call.fail(error) }
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(handshake.isOpen ? "\(error)" : "\(error) during the handshake (check the user, password and vhost)")
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readNanos = MonotonicClock.nanoseconds()
        decoder.append(unwrapInboundIn(data))
        do {
            while !failed, let frame = try decoder.nextFrame() {
                try handle(frame)
            }
        } catch {
            fail("protocol error: \(error)")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushPendingOutput()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { schedulePublishPass() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Frames

    private func handle(_ frame: Frame) throws {
        switch frame {
        case .method(let channel, let method):
            try handle(method, channel: channel)
        case .header(_, let header):
            if let delivery = try deliveries.header(bodySize: header.bodySize) { delivered(delivery) }
        case .body(_, let body):
            if let delivery = try deliveries.body(body) { delivered(delivery) }
        case .heartbeat:
            var buffer = ByteBuffer()
            FrameEncoder.encode(.heartbeat, into: &buffer)
            context?.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private func handle(_ method: AMQPMethod, channel: UInt16) throws {
        guard handshake.isOpen else {
            let step = handshake.receive(method, channel: channel)
            for outgoing in step.send { send(outgoing.method, channel: outgoing.channel) }
            if let failure = step.failure {
                fail(failure)
            } else if let frameMax = step.readyFrameMax {
                self.frameMax = frameMax
                decoder.maxFrameSize = frameMax
                ready.succeed(())
            }
            return
        }
        switch method {
        case .basicDeliver(let deliver):
            try deliveries.contentMethod(tag: deliver.deliveryTag)
        case .basicReturn, .basicGetOk:
            try deliveries.contentMethod(tag: nil)
        case .basicAck(let ack):
            confirmed(tag: ack.deliveryTag, multiple: ack.multiple, ack: true)
        case .basicNack(let nack):
            confirmed(tag: nack.deliveryTag, multiple: nack.multiple, ack: false)
        case .connectionClose(let close):
            send(.connectionCloseOk(ConnectionCloseOk()), channel: 0)
            fail("broker closed the connection: \(close.replyCode) \(close.replyText)")
        case .connectionCloseOk:
            context?.close(promise: nil)
        case .channelClose(let close):
            send(.channelCloseOk(ChannelCloseOk()), channel: channel)
            fail("broker closed channel \(channel): \(close.replyCode) \(close.replyText)")
        case .basicCancel(let cancel):
            fail("broker cancelled consumer \(cancel.consumerTag) (queue deleted?)")
        case .connectionBlocked(let blocked):
            report(.notice("\(name): broker blocked publishing (connection.blocked: \(blocked.reason))"))
        case .connectionUnblocked:
            report(.notice("\(name): broker unblocked publishing"))
        case .channelFlow(let flow):
            send(.channelFlowOk(ChannelFlowOk(active: flow.active)), channel: channel)
            report(.notice("\(name): broker sent channel.flow active=\(flow.active)"))
        default:
            // A synchronous reply: replies come in the order of the calls (spec 2.3.5.1).
            calls.popFirst()?.succeed(method)
        }
    }

    // MARK: Calls from the runner (on the event loop)

    /// Sends a synchronous method on channel 1; the future holds the broker's reply.
    func call(_ method: AMQPMethod) -> EventLoopFuture<AMQPMethod> {
        eventLoop.preconditionInEventLoop()
        guard context != nil, !closing, !failed else {
            return eventLoop.makeFailedFuture(PerfError("\(name): connection is closed"))
        }
        let promise = eventLoop.makePromise(of: AMQPMethod.self)
        calls.append(promise)
        send(method, channel: 1)
        return promise.futureResult
    }

    /// Closes with `connection.close` and waits (at most 2 s) for the socket to close.
    func close() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        producer?.running = false
        guard let context, context.channel.isActive else { return eventLoop.makeSucceededVoidFuture() }
        closing = true
        let closed = context.channel.closeFuture
        if failed {
            context.close(promise: nil)
            return closed
        }
        send(.connectionClose(ConnectionClose(replyCode: 200, replyText: "broker perf done")), channel: 0)
        let timer = eventLoop.scheduleTask(in: .seconds(2)) { [self] in self.context?.close(promise: nil) }
        closed.whenComplete { _ in timer.cancel() }
        return closed
    }

    /// Reads the statistics; with `takeLatency`, hands over the latency recorded since
    /// the last time and starts a new interval.
    func snapshot(takeLatency: Bool) -> ConnectionStats {
        var result = stats
        if takeLatency, let consumer {
            result.latency = consumer.latency
            consumer.latency = LatencyHistogram()
        }
        return result
    }

    // MARK: Output

    func send(_ method: AMQPMethod, channel: UInt16) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        FrameEncoder.encodeMethod(channel: channel, method, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func flushPendingOutput() {
        guard let output = pendingOutput, let context else { return }
        pendingOutput = nil
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
    }

    func fail(_ message: String) {
        guard !failed else { return }
        failed = true
        producer?.running = false
        if !closing { report(.fatal("\(name): \(message)")) }
        closing = true
        let error = PerfError("\(name): \(message)")
        ready.fail(error)
        while let call = calls.popFirst() { call.fail(error) }
        context?.close(promise: nil)
    }
}
