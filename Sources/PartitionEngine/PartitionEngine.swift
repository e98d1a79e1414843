// PartitionEngine: the pure, deterministic state of one worker's partition: its queues,
// their ready messages, consumers, and unacked deliveries (after RabbitMQ's rabbit_fifo:
// apply(command) → effects). The worker feeds it the `LinkRequest`s of every client
// connection's stream and sends the `WorkerEvent`s it produces; it does no I/O, reads no
// clock, takes no lock and logs nothing.
//
// Invariants:
// - Messages are delivered in publish order per queue; a requeued message goes back to its
//   original position (its per-queue sequence number) and is marked redelivered.
// - Worker delivery tags start at 1 per (connection, channel) and rise by one per delivery
//   or get-ok on that channel, noAck ones included, so the router can translate them in order.
// - Every published message is in exactly one place: a queue's ready list, a channel's
//   unacked list, or gone (acked, discarded, purged, or its queue deleted).
// - Replies follow RabbitMQ 3.x on one node, texts included.
import BrokerModel
import HeapModule
import LinkWire

/// One partition's queues and consumers. Holds class references internally: treat a value
/// as the single owner of its state (do not copy it and use both copies).
public struct PartitionEngine {
    /// The partition this engine owns.
    public let partition: PartitionID
    var queues: [QueueID: EngineQueue] = [:]
    /// The queue the last publish went to: a publisher mostly sends to one queue, and this
    /// spares hashing its vhost and name per message. A deleted queue is never reused.
    var lastPublished: EngineQueue?
    var connections: [ConnectionID: EngineConnection] = [:]
    /// Reused storage for the queues one call touches, so that calls do not allocate.
    var scratch: [EngineQueue] = []
    /// Message counters and the queue-wait histogram of the whole partition.
    let stats = EngineStats()
    /// Connections with deliveries not yet flushed (see `outputFlushed`).
    let ledger = OutputLedger()
    /// Queues with a message TTL or an expiry: the ones `tick` looks at.
    var timedQueues: [ObjectIdentifier: EngineQueue] = [:]

    /// Messages of x-delayed-message exchanges, earliest due first.
    var delayed = Heap<DelayedMessage>()
    var nextDelayedSequence: UInt64 = 0
    /// The store's numbers of the delayed exchanges whose messages it keeps.
    var delayedRefs: [QueueID: UInt32] = [:]
    /// The server-wide delivery-acknowledgement timeout (milliseconds), for queues without
    /// x-consumer-timeout.
    let consumerTimeout: UInt64
    var nextTimeoutCheck: UInt64 = 0

    /// The partition's message store: durable queues and their persistent messages are
    /// recorded there (nil: everything stays in memory).
    public var journal: PartitionJournal?
    /// When queues of the store page their newest messages out of memory.
    public var paging = PagingLimits()

    /// The time of the call being applied, in milliseconds: every entry point takes it as an
    /// argument (the engine reads no clock of its own).
    var now: UInt64 = 0

    /// Something can expire or fall due: the worker should call `tick` every few
    /// milliseconds.
    public var hasTimers: Bool { !timedQueues.isEmpty || !delayed.isEmpty }

    /// Some queue's memory ran low while older messages wait in the store: the host should call
    /// `pageIn` after its batch (reading the store is a step it asks for, never a side effect).
    public var wantsPageIn: Bool { !ledger.wantPageIn.isEmpty }

    /// Reads a batch back from the store for each queue that ran low, and delivers from it.
    public mutating func pageIn(now: UInt64, into output: inout EngineOutput) {
        self.now = now
        let queues = ledger.wantPageIn
        ledger.wantPageIn.removeAll(keepingCapacity: true)
        for queue in queues where !queue.isDeleted && queue.wantsPageIn {
            queue.pageIn()
            queue.dispatch(now: now, into: &output)
        }
    }

    /// A connection may hold unacked deliveries that can time out: `tick` is needed now and
    /// then (consumer timeouts are checked at most every 100 ms, on the ticks that come).
    public var hasConnections: Bool { !connections.isEmpty }

    /// RabbitMQ's default consumer timeout: 30 minutes.
    public static let defaultConsumerTimeout: UInt64 = 1_800_000

    /// An empty partition.
    public init(partition: PartitionID, consumerTimeout: UInt64 = PartitionEngine.defaultConsumerTimeout) {
        self.partition = partition
        self.consumerTimeout = consumerTimeout
    }

    /// The number of queues the partition holds.
    public var queueCount: Int { queues.count }

    /// Applies one request of `connection`'s stream, appending the events it causes.
    public mutating func apply(_ request: LinkRequest, from connection: ConnectionID, now: UInt64, into output: inout EngineOutput) {
        self.now = now
        switch request {
        case .publish(let publish):
            self.publish(publish, from: connection, into: &output)
        case .settle(let channel, let tag, let multiple, let outcome):
            settle(channel: channel, tag: tag.value, multiple: multiple, outcome: outcome, from: connection, into: &output)
        case .declareQueue(let id, let declare):
            declareQueue(id, declare, from: connection, into: &output)
        case .deleteQueue(let id, _, let queue, let ifUnused, let ifEmpty):
            deleteQueue(id, queue: queue, ifUnused: ifUnused, ifEmpty: ifEmpty, from: connection, into: &output)
        case .purgeQueue(let id, _, let queue):
            purgeQueue(id, queue: queue, from: connection, into: &output)
        case .consume(let id, let consume):
            self.consume(id, consume, from: connection, into: &output)
        case .cancel(let id, let channel, let consumerTag):
            cancel(id, channel: channel, consumerTag: consumerTag, from: connection, into: &output)
        case .get(let id, let channel, let queue, let noAck):
            get(id, channel: channel, queue: queue, noAck: noAck, from: connection, into: &output)
        case .recover(let id, let channel, _):
            // requeue=false is refused by the router; redelivering in place is the same as
            // requeueing for this engine, so both requeue.
            recover(id, channel: channel, from: connection, into: &output)
        case .closeChannel(let channel):
            closeChannel(channel, of: connection, into: &output)
        case .setChannelLimit(let channel, let limit):
            setChannelLimit(channel, limit, from: connection, into: &output)
        case .delay(let request):
            delay(request, from: connection, into: &output)
        }
    }

    /// The client connection is gone (stream ended or reset): its channels close, its
    /// unacked deliveries are requeued, and the exclusive queues it declared are deleted.
    public mutating func connectionGone(_ connection: ConnectionID, now: UInt64, into output: inout EngineOutput) {
        self.now = now
        guard let state = connections.removeValue(forKey: connection) else { return }
        var touched = takeScratch()
        for number in state.channels.keys.sorted() {
            guard let channel = state.channels[number] else { continue }
            close(channel, touched: &touched, into: &output)
        }
        state.channels.removeAll()
        for queue in state.ownedQueues where !queue.isDeleted {
            // Only the owner could consume from it, so nobody is left to notify.
            _ = delete(queue, into: &output)
            output.broadcast(.queueGone(queue.id))
        }
        state.ownedQueues.removeAll()
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    /// Expires messages at the heads of queues with a TTL, deletes queues unused for longer
    /// than their x-expires, releases due delayed messages and reports consumer timeouts.
    /// Call periodically while `needsTicks`.
    public mutating func tick(now: UInt64, into output: inout EngineOutput) {
        self.now = now
        releaseDueMessages(into: &output)
        checkConsumerTimeouts(into: &output)
        for queue in timedQueues.values {
            if let expires = queue.policy.expires, queue.consumers.isEmpty, now >= queue.lastUsed &+ expires {
                _ = delete(queue, into: &output)
                output.broadcast(.queueGone(queue.id))
                continue
            }
            if queue.policy.messageTTL != nil || queue.ready.first.map({ $0.expiresAt != .max }) == true {
                queue.expireHead(now: now, into: &output)
            }
        }
    }

    // MARK: - state helpers

    func channelIfPresent(_ number: ChannelNumber, of connection: ConnectionID) -> EngineChannel? {
        connections[connection]?.channels[number]
    }

    mutating func channel(_ number: ChannelNumber, of connection: ConnectionID) -> EngineChannel {
        let state = connectionState(connection)
        if let channel = state.channels[number] { return channel }
        let channel = EngineChannel(connection: connection, number: number, owner: state)
        state.channels[number] = channel
        return channel
    }

    mutating func connectionState(_ connection: ConnectionID) -> EngineConnection {
        if let state = connections[connection] { return state }
        let state = EngineConnection()
        connections[connection] = state
        return state
    }

    mutating func takeScratch() -> [EngineQueue] {
        var taken: [EngineQueue] = []
        swap(&taken, &scratch)
        return taken
    }

    mutating func returnScratch(_ taken: inout [EngineQueue]) {
        taken.removeAll(keepingCapacity: true)
        swap(&taken, &scratch)
    }
}

/// Adds `queue` to `list` unless it is already there (lists are short; the last entry is
/// checked first because consecutive settlements usually name the same queue).
func noteTouched(_ queue: EngineQueue, in list: inout [EngineQueue]) {
    if let last = list.last, last === queue { return }
    if list.contains(where: { $0 === queue }) { return }
    list.append(queue)
}
