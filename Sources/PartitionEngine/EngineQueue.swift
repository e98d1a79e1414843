// One queue of the partition: its ready messages in publish order, its consumers in
// round-robin order, and the count of its deliveries still unacked.
import BrokerModel
import DequeModule
import LinkWire
import NIOCore

/// A message waiting in a queue. `sequence` is its position in the queue's publish order;
/// a requeued message keeps it, so it goes back where it was.
struct ReadyMessage {
    var sequence: UInt64
    var redelivered: Bool
    var message: LinkMessage
    /// When the message expires (engine milliseconds); `.max` for never.
    var expiresAt: UInt64 = .max
}

/// A queue. A class so that consumers and unacked deliveries refer to it without hashing its
/// name per message; once deleted it is flagged and forgotten by the engine, and late
/// settlements that still refer to it are no-ops.
final class EngineQueue {
    let id: QueueID
    let durable: Bool
    let exclusive: Bool
    let autoDelete: Bool
    let arguments: ByteBuffer
    let policy: QueuePolicy
    /// The connection that declared an exclusive queue.
    let owner: ConnectionID?

    /// Sorted by `sequence`.
    var ready: Deque<ReadyMessage> = []
    var nextSequence: UInt64 = 0
    /// Active consumers; `cursor` is where the next round-robin search starts.
    var consumers: [EngineConsumer] = []
    var cursor = 0
    var unackedCount = 0
    /// Body bytes of the ready messages (for x-max-length-bytes).
    var readyBytes = 0
    var isDeleted = false
    /// When the queue was last used (declare, consume, get), for x-expires.
    var lastUsed: UInt64 = 0

    init(id: QueueID, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: ByteBuffer,
         policy: QueuePolicy = .none, owner: ConnectionID?) {
        self.id = id
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.policy = policy
        self.owner = owner
    }

    /// An exclusive consumer is always the only one.
    var hasExclusiveConsumer: Bool { consumers.first?.exclusive ?? false }

    /// Whether `connection` may use this queue (RabbitMQ's lax exclusive-access check).
    func isAccessible(by connection: ConnectionID) -> Bool {
        !exclusive || owner == connection
    }

    /// Appends a published message. With `reject-publish` overflow a full queue refuses it
    /// (false); with `drop-head` the oldest messages make room, dead-lettered as `maxlen`.
    func enqueue(_ message: LinkMessage, expiration: UInt64?, now: UInt64, into output: inout EngineOutput) -> Bool {
        let size = message.body.readableBytes
        if policy.overflow != .dropHead, isFull(adding: size) {
            if policy.overflow == .rejectPublishDeadLetter { deadLetter(message, .maxlen, into: &output) }
            return false
        }
        var ttl = policy.messageTTL
        if let expiration { ttl = min(ttl ?? .max, expiration) }
        let expiresAt = ttl.map { now &+ $0 } ?? .max
        ready.append(ReadyMessage(sequence: nextSequence, redelivered: false, message: message, expiresAt: expiresAt))
        readyBytes &+= size
        nextSequence &+= 1
        while policy.overflow == .dropHead, isFull(adding: 0), let head = ready.first {
            removeHead()
            deadLetter(head.message, .maxlen, into: &output)
        }
        return true
    }

    /// Over a length limit (only ready messages count, as in RabbitMQ).
    private func isFull(adding size: Int) -> Bool {
        let extra = size > 0 ? 1 : 0
        if let max = policy.maxLength, ready.count + extra > max { return true }
        if let max = policy.maxLengthBytes, readyBytes + size > max { return true }
        return false
    }

    @discardableResult
    func removeHead() -> ReadyMessage {
        let head = ready.removeFirst()
        readyBytes &-= head.message.body.readableBytes
        return head
    }

    func removeAllReady() -> Int {
        let count = ready.count
        ready.removeAll()
        readyBytes = 0
        return count
    }

    /// Dead-letters expired messages at the head of the queue (RabbitMQ expires messages
    /// when they reach the head).
    func expireHead(now: UInt64, into output: inout EngineOutput) {
        while let head = ready.first, head.expiresAt < now {
            removeHead()
            deadLetter(head.message, .expired, into: &output)
        }
    }

    /// Hands the message to the router for the dead-letter exchange, or drops it.
    func deadLetter(_ message: LinkMessage, _ reason: DeadLetterReason, into output: inout EngineOutput) {
        guard let exchange = policy.deadLetterExchange else { return }
        output.deadLetter(DeadLetterEvent(queue: id, reason: reason, deadLetterExchange: exchange,
                                          deadLetterRoutingKey: policy.deadLetterRoutingKey, message: message))
    }

    /// Puts a delivered message back at its original position, marked redelivered.
    func requeue(sequence: UInt64, message: LinkMessage) {
        readyBytes &+= message.body.readableBytes
        let entry = ReadyMessage(sequence: sequence, redelivered: true, message: message)
        guard let last = ready.last, last.sequence > sequence else {
            ready.append(entry)
            return
        }
        // Binary search for the first message published after this one. Requeues usually
        // land near the head, where Deque inserts cheaply.
        var low = 0
        var high = ready.count
        while low < high {
            let mid = (low &+ high) / 2
            if ready[mid].sequence < sequence { low = mid &+ 1 } else { high = mid }
        }
        ready.insert(entry, at: low)
    }

    func addConsumer(_ consumer: EngineConsumer) {
        consumers.append(consumer)
    }

    func removeConsumer(_ consumer: EngineConsumer) {
        guard let index = consumers.firstIndex(where: { $0 === consumer }) else { return }
        consumers.remove(at: index)
        // Keep the round robin pointing at the consumer that was next.
        if index < cursor { cursor -= 1 }
        if cursor >= consumers.count { cursor = 0 }
    }

    /// The next consumer in round-robin order that may take a message, if any.
    func nextConsumerWithCapacity() -> EngineConsumer? {
        let count = consumers.count
        var index = cursor
        for _ in 0..<count {
            let consumer = consumers[index]
            index = index &+ 1 == count ? 0 : index &+ 1
            if consumer.hasCapacity {
                cursor = index
                return consumer
            }
        }
        return nil
    }
}
