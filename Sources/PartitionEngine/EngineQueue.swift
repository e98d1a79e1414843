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
    /// The connection that declared an exclusive queue.
    let owner: ConnectionID?

    /// Sorted by `sequence`.
    var ready: Deque<ReadyMessage> = []
    var nextSequence: UInt64 = 0
    /// Active consumers; `cursor` is where the next round-robin search starts.
    var consumers: [EngineConsumer] = []
    var cursor = 0
    var unackedCount = 0
    var isDeleted = false

    init(id: QueueID, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: ByteBuffer, owner: ConnectionID?) {
        self.id = id
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.owner = owner
    }

    /// An exclusive consumer is always the only one.
    var hasExclusiveConsumer: Bool { consumers.first?.exclusive ?? false }

    /// Whether `connection` may use this queue (RabbitMQ's lax exclusive-access check).
    func isAccessible(by connection: ConnectionID) -> Bool {
        !exclusive || owner == connection
    }

    func enqueue(_ message: LinkMessage) {
        ready.append(ReadyMessage(sequence: nextSequence, redelivered: false, message: message))
        nextSequence &+= 1
    }

    /// Puts a delivered message back at its original position, marked redelivered.
    func requeue(sequence: UInt64, message: LinkMessage) {
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
