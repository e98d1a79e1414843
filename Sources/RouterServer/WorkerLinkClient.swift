// The router's link to one worker from one event loop: an HTTP/2 connection over the
// worker's Unix socket, or over TCP with mutual TLS to a worker on another host. Each client
// connection on this loop that touches the worker gets one stream; a control stream carries
// the worker's broadcasts (e.g. a queue that deleted itself). Reconnects with back-off when
// the worker goes away.
import BrokerModel
import LinkHTTP2
import LinkTransport
import LinkWire
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RouterCore

#if canImport(Glibc)
import Glibc
#endif

/// Receives the worker's events for one client connection.
protocol WorkerStreamSink: AnyObject {
    func linkEvent(_ event: ConnectionEvent, from partition: PartitionID)
    func linkStreamClosed(partition: PartitionID)
    /// Whether the client can take more deliveries now (its socket is writable). While it
    /// cannot, the stream's HTTP/2 window is not replenished, which stops the worker.
    var acceptsDeliveries: Bool { get }
    /// A stream it waits on (`notifyWhenDrained`) has `lowWater` bytes queued or fewer, or is gone.
    func linkDrained()
    /// The link it waits on (`whenLinked`) is up again, its worker's queues reconciled.
    func linkRestored(partition: PartitionID)
}

final class WorkerLinkClient: HTTP2LinkDelegate {
    let partition: PartitionID
    /// Where the worker is; the partition map (etcd) may move it (`relocate`).
    private(set) var endpoint: LinkEndpoint
    /// The epoch of the worker's claim in the partition map, sent when linking so that a
    /// worker holding another claim (or none) refuses the link; nil without etcd.
    private(set) var epoch: Int64?
    /// The mutual-TLS client context for a TCP endpoint.
    let tls: NIOSSLContext?
    let eventLoop: EventLoop
    let topology: TopologyStore
    private var logger: Logger
    private var handler: HTTP2LinkHandler?
    private var channel: Channel?
    private var controlStream: HTTP2StreamID?
    private var controlDecoder = LinkMessageDecoder<ControlEvent>()
    private var sinks: [HTTP2StreamID: (sink: WorkerStreamSink, decoder: LinkMessageDecoder<ConnectionEvent>)] = [:]
    /// Sinks waiting for their stream's queued bytes to fall (publishers paused by backpressure).
    private var drainWaiters: [HTTP2StreamID: (sink: WorkerStreamSink, lowWater: Int)] = [:]
    /// Sinks to tell when the link is back (connections whose consumers wait to re-attach).
    private var relinkWaiters: [ObjectIdentifier: WeakSink] = [:]
    /// Connections that closed while the link was down, to tell the worker of
    /// (`connectionClosed`), and the streams telling it, until it answers.
    private var closedWhileUnlinked: [ConnectionID] = []
    private var announcing: [HTTP2StreamID: ConnectionID] = [:]
    /// The events of one DATA chunk, decoded before any is dispatched; kept for its capacity.
    private var decodedEvents: [ConnectionEvent] = []
    /// Bytes received on a client connection's stream and not yet given back to its window,
    /// because the client could not take them (invariant 2: a slow consumer stalls only its
    /// own stream).
    private var withheld: [HTTP2StreamID: Int] = [:]
    private var closed = false
    /// Plain HTTP requests to the worker (e.g. GET /v1/stats) waiting for their response.
    private var requests: [HTTP2StreamID: (promise: EventLoopPromise<LinkResponse>, status: Int, body: ByteBuffer)] = [:]
    /// Routes what the worker dead-letters (shared by this loop's links).
    var republisher: Republisher?
    /// The router's own requests on the control stream, awaiting their answers.
    let controlRequests = ControlRequests()

    init(partition: PartitionID, endpoint: LinkEndpoint, epoch: Int64? = nil, tls: NIOSSLContext?, eventLoop: EventLoop,
         topology: TopologyStore, logger: Logger) {
        self.partition = partition
        self.endpoint = endpoint
        self.epoch = epoch
        self.tls = tls
        self.eventLoop = eventLoop
        self.topology = topology
        self.logger = logger
        self.logger[metadataKey: "partition"] = "\(partition.index)"
    }

    /// Connects once; the future fails if the worker is not there.
    func connect() -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        let logger = self.logger
        let tls = endpoint.isTCP ? self.tls : nil
        if endpoint.isTCP, tls == nil {
            return eventLoop.makeFailedFuture(LinkTLS.Invalid(description: "a link to another host needs the link TLS files"))
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: HTTP2LinkSettings.recvAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // TLS beneath the HTTP/2 handler: the preface waits for the handshake.
                    if let tls {
                        try LinkSocket.configure(channel)
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        HTTP2LinkHandler(role: .client, settings: Self.linkSettings, logger: logger))
                }
            }
        return bootstrap.connect(to: endpoint)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: HTTP2LinkHandler.self)
                handler.delegate = self
                self.channel = channel
                self.handler = handler
                self.controlDecoder = LinkMessageDecoder()
                let path = self.epoch.map { "/v1/control?epoch=\($0)" } ?? "/v1/control"
                self.controlStream = handler.openStream(method: "POST", path: path, endStream: false)
            }
    }

    /// Deliveries are flow-controlled per stream: a connection's stream may hold this much in
    /// flight before the worker stops sending to it.
    static let linkSettings: HTTP2LinkSettings = {
        var settings = HTTP2LinkSettings()
        settings.manualStreamWindows = true
        settings.initialStreamWindow = 4 << 20
        return settings
    }()

    /// The client of `stream` can take deliveries again: give back what was withheld.
    func resume(_ stream: HTTP2StreamID) {
        guard let bytes = withheld.removeValue(forKey: stream) else { return }
        handler?.consumed(stream: stream, bytes: bytes)
    }

    func close() {
        closed = true
        channel?.close(promise: nil)
    }

    /// Whether the link to the worker is up.
    var isLinked: Bool { handler != nil }

    /// Opens the stream for one client connection, or nil when the worker is unreachable.
    func openStream(for connection: ConnectionID, sink: WorkerStreamSink) -> HTTP2StreamID? {
        guard let handler else { return nil }
        let stream = handler.openStream(method: "POST", path: "/v1/connections/\(connection.value)", endStream: false)
        sinks[stream] = (sink, LinkMessageDecoder())
        return stream
    }

    func send(_ data: ByteBuffer, on stream: HTTP2StreamID) {
        handler?.send(stream: stream, data: data)
    }

    /// Bytes handed to the link for `stream` and not yet written to the worker.
    func queuedBytes(on stream: HTTP2StreamID) -> Int {
        handler?.queuedBytes(on: stream) ?? 0
    }

    /// Calls the stream's sink back once at most `lowWater` bytes are queued on it (checked
    /// after each write to the worker), instead of the sink polling.
    func notifyWhenDrained(_ stream: HTTP2StreamID, lowWater: Int) {
        guard let sink = sinks[stream]?.sink else { return }
        drainWaiters[stream] = (sink, lowWater)
    }

    func linkDidWrite(_ link: HTTP2LinkHandler) {
        guard !drainWaiters.isEmpty else { return }
        for (stream, waiter) in drainWaiters where link.queuedBytes(on: stream) <= waiter.lowWater {
            drainWaiters[stream] = nil
            waiter.sink.linkDrained()
        }
    }

    /// Calls `sink.linkRestored` once the link is up again after a loss.
    func whenLinked(_ sink: WorkerStreamSink) {
        relinkWaiters[ObjectIdentifier(sink)] = WeakSink(sink: sink)
    }

    /// `connection` closed with no stream to this worker while owning an exclusive queue
    /// there: a stream opened and ended at once tells the worker, which deletes the queue;
    /// while the link is down, once it is back. Told again on the next link until a worker
    /// took it (answered 200): a draining one refuses.
    func connectionClosed(_ connection: ConnectionID) {
        guard let handler else { return closedWhileUnlinked.append(connection) }
        announcing[handler.openStream(method: "POST", path: "/v1/connections/\(connection.value)", endStream: true)] = connection
    }

    private func linkRestored() {
        // A link refused right after connecting (TLS, a fenced epoch) is down again: the
        // waiters stay for the next one.
        guard handler != nil else { return }
        let closed = closedWhileUnlinked
        closedWhileUnlinked.removeAll()
        for connection in closed { connectionClosed(connection) }
        let waiters = relinkWaiters.values.compactMap(\.sink)
        relinkWaiters.removeAll()
        logger.info("link to worker restored", metadata: ["connections": "\(waiters.count)"])
        for sink in waiters { sink.linkRestored(partition: partition) }
    }

    /// A request of the router's own (not of a client connection), on the control stream.
    func sendControl(_ request: LinkRequest) {
        guard let handler, let controlStream else { return }
        var buffer = ByteBuffer()
        request.write(into: &buffer)
        handler.send(stream: controlStream, data: buffer)
    }

    /// A plain GET to the worker (introspection: /v1/health, /v1/stats); fails after
    /// `timeout` or when the link goes down.
    func get(_ path: String, timeout: TimeAmount = .seconds(2)) -> EventLoopFuture<LinkResponse> {
        eventLoop.assertInEventLoop()
        guard let handler else { return eventLoop.makeFailedFuture(LinkRequestFailed(partition: partition, reason: "not linked")) }
        let stream = handler.openStream(method: "GET", path: path, endStream: true)
        guard stream != .invalid else {
            return eventLoop.makeFailedFuture(LinkRequestFailed(partition: partition, reason: "stream refused"))
        }
        let promise = eventLoop.makePromise(of: LinkResponse.self)
        requests[stream] = (promise, 0, ByteBuffer())
        handler.flush()
        let partition = self.partition
        let timer = eventLoop.scheduleTask(in: timeout) { [weak self] in
            guard let self, let request = self.requests.removeValue(forKey: stream) else { return }
            request.promise.fail(LinkRequestFailed(partition: partition, reason: "timed out"))
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    func endStream(_ stream: HTTP2StreamID) {
        withheld[stream] = nil
        guard sinks.removeValue(forKey: stream) != nil else { return }
        handler?.endStream(stream)
    }

    // MARK: HTTP2LinkDelegate

    func linkActive(_ link: HTTP2LinkHandler) {
        logger.debug("link to worker up")
    }

    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String) {}

    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int) {
        if let connection = announcing.removeValue(forKey: stream) {
            if status != 200 { closedWhileUnlinked.append(connection) }
            return
        }
        if requests[stream] != nil {
            requests[stream]!.status = status
            return
        }
        if status != 200 {
            logger.error("worker refused a stream", metadata: ["status": "\(status)"])
        }
    }

    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer) {
        do {
            let size = data.readableBytes
            if stream == controlStream {
                link.consumed(stream: stream, bytes: size)
                controlDecoder.append(data)
                while let event = try controlDecoder.next() { controlEvent(event) }
                return
            }
            if requests[stream] != nil {
                link.consumed(stream: stream, bytes: size)
                var body = data
                requests[stream]!.body.writeBuffer(&body)
                return
            }
            guard let entry = sinks[stream] else { return }
            entry.decoder.append(data)
            // Decoded first, dispatched after: a sink may end the stream while handling one.
            var events = decodedEvents
            decodedEvents = []
            while let event = try entry.decoder.next() { events.append(event) }
            for event in events { entry.sink.linkEvent(event, from: partition) }
            events.removeAll(keepingCapacity: true)
            decodedEvents = events
            if entry.sink.acceptsDeliveries, withheld[stream] == nil {
                link.consumed(stream: stream, bytes: size)
            } else {
                withheld[stream, default: 0] += size
            }
        } catch {
            logger.error("malformed message from worker; closing the link", metadata: ["error": "\(error)"])
            channel?.close(promise: nil)
        }
    }

    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID) {
        streamGone(stream)
    }

    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32) {
        if let connection = announcing.removeValue(forKey: stream) { closedWhileUnlinked.append(connection) }  // refused
        streamGone(stream)
    }

    func linkInactive(_ link: HTTP2LinkHandler) {
        guard handler === link else { return }
        handler = nil
        closedWhileUnlinked += announcing.values
        announcing.removeAll()
        withheld.removeAll()
        drainWaiters.removeAll()
        channel = nil
        controlStream = nil
        let orphaned = sinks
        sinks.removeAll()
        let pending = requests
        requests.removeAll()
        for request in pending.values { request.promise.fail(LinkRequestFailed(partition: partition, reason: "link lost")) }
        controlRequests.failAll(LinkRequestFailed(partition: partition, reason: "link lost"))
        for entry in orphaned.values { entry.sink.linkStreamClosed(partition: partition) }
        guard !closed else { return }
        logger.warning("link to worker lost; reconnecting")
        // Soon: a worker being replaced is back within a fraction of a second.
        scheduleReconnect(after: .milliseconds(50))
    }

    /// The partition's worker is now at `new` with claim `epoch` (the partition map changed):
    /// the link goes there, at once if it is up with another claim, else at its next reconnect.
    func relocate(to new: LinkEndpoint, epoch: Int64?) {
        eventLoop.assertInEventLoop()
        guard new != endpoint || epoch != self.epoch else { return }
        logger.info("partition map: the worker moved; relinking", metadata: [
            "from": "\(endpoint)", "to": "\(new)", "epoch": "\(epoch.map(String.init) ?? "-")",
        ])
        endpoint = new
        self.epoch = epoch
        channel?.close(promise: nil)  // linkInactive follows and reconnects to `new`
    }

    private func streamGone(_ stream: HTTP2StreamID) {
        withheld[stream] = nil
        drainWaiters[stream] = nil
        if let request = requests.removeValue(forKey: stream) {
            request.promise.succeed(LinkResponse(status: request.status, body: request.body))
            return
        }
        if let entry = sinks.removeValue(forKey: stream) {
            entry.sink.linkStreamClosed(partition: partition)
        }
    }

    /// A link whose worker is not there yet: it connects when it can, as after a loss.
    func reconnectInBackground() {
        scheduleReconnect(after: .milliseconds(100))
    }

    private func scheduleReconnect(after delay: TimeAmount) {
        eventLoop.scheduleTask(in: delay) {
            guard !self.closed, self.handler == nil else { return }
            self.connect().whenComplete { result in
                switch result {
                case .success:
                    // The worker may have restarted: what it kept only in memory is gone.
                    self.reconcileQueues().whenComplete { _ in self.linkRestored() }
                case .failure(let error):
                    self.logger.debug("link to worker: reconnect failed", metadata: ["endpoint": "\(self.endpoint)", "error": "\(error)"])
                    self.scheduleReconnect(after: min(delay * 2, .seconds(2)))
                }
            }
        }
    }

    private func controlEvent(_ event: ControlEvent) {
        switch event {
        case .queueGone(let queue):
            try? topology.update { (topology: inout Topology) throws(TopologyError) in topology.removeQueue(queue) }
        case .deadLetter(let dead):
            republisher?.forward(dead, nowSeconds: UInt64(time(nil)))
        case .delayedDue(let vhost, let message):
            republisher?.forwardDelayed(message, in: vhost)
        case .answer(let id, let answer):
            if controlRequests.answer(id, answer) { return }
            logger.error("an answer to no request of ours on the control stream", metadata: ["request": "\(id.value)"])
        }
    }
}

private struct WeakSink {
    weak var sink: WorkerStreamSink?
}

/// A worker's answer to a plain HTTP request on the link.
struct LinkResponse: Sendable {
    var status: Int
    var body: ByteBuffer
}

struct LinkRequestFailed: Error, CustomStringConvertible {
    var partition: PartitionID
    var reason: String
    var description: String { "worker \(partition.index): \(reason)" }
}
