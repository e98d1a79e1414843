// The partition engine and the streams of every router link, on the worker's one event loop.
// Requests are applied as they arrive; the events they produce are encoded into one buffer
// per destination stream and handed to the link once per event-loop tick.
import BrokerModel
import BrokerTelemetry
import LinkHTTP2
import LinkWire
import Logging
import MessageStore
import NIOCore
import NIOPosix
import PartitionEngine

final class PartitionHost {
    let configuration: WorkerConfiguration
    let eventLoop: EventLoop
    let logger: Logger
    var engine: PartitionEngine
    /// The engine's time (milliseconds), read once per batch of requests, not per message.
    var engineTime: UInt64 = 0
    private var output = EngineOutput()

    /// Where each client connection's stream is, and back.
    var connections: [ConnectionID: StreamRef] = [:]
    private var connectionOfStream: [StreamRef: ConnectionID] = [:]
    /// Connections whose stream holds more than `pauseAbove` bytes the link could not send
    /// (the router withholds its window while the client is slow): no deliveries to them
    /// until it is below `resumeBelow`.
    private var paused: Set<ConnectionID> = []
    static let pauseAbove = 1 << 20
    static let resumeBelow = 256 << 10
    /// The router's link connections, to close when the worker stops.
    var linkChannels: [ObjectIdentifier: Channel] = [:]
    /// Set once the worker stops: requests from the router are no longer applied (the router
    /// nacks what goes unanswered when the link closes).
    private(set) var draining = false
    /// The partition's files on their way to a worker on another host, once one asked.
    var handover: HandoverSender?
    /// Called once the handover ends: true when that worker has written every file (this one
    /// lets go of the partition), false when it went away or never said so.
    var handoverEnded: ((Bool) -> Void)?
    /// Control streams, one per router link: broadcasts go to all of them.
    var controlStreams: [StreamRef] = []
    /// The control stream whose request is being applied (its answers go back there).
    private var answeringControl: StreamRef?
    /// Encoded events waiting for the next flush, per stream.
    private var pending: [StreamRef: ByteBuffer] = [:]
    private var flushScheduled = false
    /// How late the clock tick ran: the event loop's lag.
    private(set) var loopLag = LatencyBuckets()
    /// The next clock tick, when one is armed: when it is due, and the interval (ms) it was
    /// armed with.
    private var clock: (task: Scheduled<Void>, due: NIODeadline, interval: Int64)?

    struct StreamRef: Hashable {
        let session: ObjectIdentifier
        let stream: HTTP2StreamID
        unowned let link: HTTP2LinkHandler

        static func == (a: StreamRef, b: StreamRef) -> Bool { a.session == b.session && a.stream == b.stream }
        func hash(into hasher: inout Hasher) {
            hasher.combine(session)
            hasher.combine(stream)
        }
    }

    /// The partition's message store, and what waits for it to sync.
    var store: MessageStore?
    let syncThread: NIOThreadPool
    var held = HeldConfirms()
    var syncRunning = false
    var storeFailing = false
    var syncLatency = LatencyBuckets()

    init(configuration: WorkerConfiguration, eventLoop: EventLoop, syncThread: NIOThreadPool, logger: Logger) throws {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.syncThread = syncThread
        self.logger = logger
        self.engine = PartitionEngine(partition: configuration.partition, consumerTimeout: configuration.consumerTimeout)
        if let root = configuration.dataDirectory { try openStore(root) }
    }

    func attach(connection: ConnectionID, at ref: StreamRef) {
        connections[connection] = ref
        connectionOfStream[ref] = connection
    }

    func attachControl(_ ref: StreamRef) {
        controlStreams.append(ref)
    }

    func detachControl(_ ref: StreamRef) {
        controlStreams.removeAll { $0 == ref }
        pending[ref] = nil
    }

    /// Reads the clock once for a batch of requests (one DATA chunk), not once per message.
    func advanceClock() {
        engineTime = Self.milliseconds()
    }

    /// Applies one request; its events wait in `output` until ``dispatchOutput()``, which
    /// the caller runs once after all the requests it has (one DATA chunk's worth).
    func apply(_ request: LinkRequest, from connection: ConnectionID) {
        engine.apply(request, from: connection, now: engineTime, into: &output)
    }

    /// A request of the router's own, on a control stream: the engine sees it as from
    /// connection 0, and its answers go back on that control stream.
    func applyControl(_ request: LinkRequest, from ref: StreamRef) {
        answeringControl = ref
        engine.apply(request, from: RouterLinkSession.routerConnection, now: engineTime, into: &output)
        dispatchOutput()
        answeringControl = nil
    }

    /// The engine's clock: monotonic milliseconds.
    static func milliseconds() -> UInt64 {
        UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
    }

    /// Message TTLs, queue expiry, delayed messages and consumer timeouts: a cheap check
    /// every 10 ms while something can expire or fall due, otherwise once a second
    /// (consumer timeouts, which RabbitMQ checks once a minute, and the event-loop lag), so
    /// an idle worker is hardly ever woken. Re-armed after every batch of work
    /// (``dispatchOutput()``): a request that creates a timer brings the tick forward.
    func armClock() {
        let interval: Int64 = engine.hasTimers || !paused.isEmpty || storeFailing ? 10 : 1000
        // Armed already, as often as needed or more: nothing to do (no clock read).
        if let armed = clock, armed.interval <= interval { return }
        let due = NIODeadline.now() + .milliseconds(interval)
        if let armed = clock {
            if armed.due <= due { return }
            armed.task.cancel()
        }
        scheduleTick(due: due, interval: interval)
    }

    private func scheduleTick(due: NIODeadline, interval: Int64) {
        let task = eventLoop.scheduleTask(deadline: due) { [self] in
            clock = nil
            tick(due: due)
        }
        clock = (task, due, interval)
    }

    /// The first tick comes 10 ms after start, so the lag is measured from the start.
    func startClock() {
        scheduleTick(due: NIODeadline.now() + .milliseconds(10), interval: 10)
    }

    private func tick(due: NIODeadline) {
        let now = NIODeadline.now()
        loopLag.observe(seconds: Double(max(0, (now - due).nanoseconds)) / 1e9)
        if !paused.isEmpty, !draining { resumeDrainedConnections() }
        if storeFailing { scheduleFlush() }
        if !draining, engine.hasTimers || engine.hasConnections {
            advanceClock()
            engine.tick(now: engineTime, into: &output)
        }
        dispatchOutput()
    }

    /// The client connection is gone (its stream ended or was reset, or the link dropped).
    func connectionGone(_ connection: ConnectionID) {
        guard let ref = connections.removeValue(forKey: connection) else { return }
        connectionOfStream[ref] = nil
        paused.remove(connection)
        pending[ref] = nil
        // Drained, the engine stays as it is: its store is closed, and may be on its way to
        // another host with what the engine carried over (no queue deleted meanwhile).
        guard !draining else { return }
        advanceClock()
        engine.connectionGone(connection, now: engineTime, into: &output)
        dispatchOutput()
    }

    /// Stops taking requests, syncs the store, releases the confirms that waited for it and
    /// hands everything pending to the links; returns the links for the caller to close.
    /// From then on nothing changes the engine (`draining` is checked at each entry).
    func drain() -> [Channel] {
        draining = true
        advanceClock()
        closeStore()
        dispatchOutput()
        flush()
        return Array(linkChannels.values)
    }

    func dispatchOutput() {
        defer { armClock() }
        if engine.wantsPageIn, !draining { engine.pageIn(now: engineTime, into: &output) }
        guard !output.events.isEmpty else {
            // E.g. the removal records of acks. A store that cannot write is retried on the
            // clock tick instead, not in a loop.
            if store?.hasBuffered == true, !storeFailing { scheduleFlush() }
            return
        }
        // A run of events for one connection (deliveries, mostly) is written into its
        // buffer taken out of `pending` once, not looked up per event. It goes back before a
        // control-stream event: the router's own connection answers on a control stream.
        var open: OpenOutput?
        for (recipient, event) in output.events {
            switch recipient {
            case .connection(let connection):
                if event.isConfirm, held.isHolding(connection) {
                    hold(event, for: connection)
                    continue
                }
                if open?.connection != connection {
                    close(&open)
                    guard let ref = stream(of: connection) else { continue }  // gone meanwhile
                    open = OpenOutput(connection: connection, ref: ref, buffer: pending.removeValue(forKey: ref) ?? ByteBuffer())
                }
                event.write(into: &open!.buffer)
            case .connectionAfterSync(let connection):
                hold(event, for: connection)
            case .router:
                close(&open)
                for ref in controlStreams { event.write(into: &pending[ref, default: ByteBuffer()]) }
            case .anyRouterLink:
                // Lost when no router is linked, like a dead-lettered message in RabbitMQ's
                // classic queues (at most once).
                close(&open)
                guard let ref = controlStreams.first else { continue }
                event.write(into: &pending[ref, default: ByteBuffer()])
            }
        }
        close(&open)
        output.removeAll()
        scheduleFlush()
    }

    private struct OpenOutput {
        let connection: ConnectionID
        let ref: StreamRef
        var buffer: ByteBuffer
    }

    private func close(_ open: inout OpenOutput?) {
        guard let done = open else { return }
        open = nil
        pending[done.ref] = done.buffer
    }

    func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.execute { self.flush() }
    }

    /// Where a connection's events go: its stream, or for the router's own requests the
    /// control stream being answered.
    func stream(of connection: ConnectionID) -> StreamRef? {
        connections[connection] ?? (connection == RouterLinkSession.routerConnection ? answeringControl : nil)
    }

    /// Queues an event for the next flush.
    func send(_ event: WorkerEvent, on ref: StreamRef) {
        event.write(into: &pending[ref, default: ByteBuffer()])
        scheduleFlush()
    }

    /// Writes what the store recorded (before any delivery of it leaves, so a delivery the
    /// client saw is on disk as delivered), then hands each stream's encoded events to its
    /// link: many link messages per DATA frame.
    private func flush() {
        flushScheduled = false
        writeStore()
        for (ref, buffer) in pending where buffer.readableBytes > 0 {
            ref.link.send(stream: ref.stream, data: buffer)
            if !draining, ref.link.queuedBytes(on: ref.stream) > Self.pauseAbove, let connection = connectionOfStream[ref],
               paused.insert(connection).inserted {
                engine.setPaused(true, connection: connection, now: engineTime, into: &output)
            }
        }
        pending.removeAll(keepingCapacity: true)
        // Drained, no more deliveries: what the store (or a handover) holds is what is left.
        guard !draining else { return }
        engine.outputFlushed(now: engineTime, into: &output)
        dispatchOutput()
    }

    /// Checked on the clock tick: a paused connection whose stream has drained gets
    /// deliveries again.
    private func resumeDrainedConnections() {
        advanceClock()
        for connection in paused {
            if let ref = connections[connection], ref.link.queuedBytes(on: ref.stream) >= Self.resumeBelow { continue }
            paused.remove(connection)
            engine.setPaused(false, connection: connection, now: engineTime, into: &output)
        }
        dispatchOutput()
    }
}
