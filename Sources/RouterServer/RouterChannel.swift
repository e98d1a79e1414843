// One open AMQP channel on the router: what it consumes, its delivery-tag translation, its
// confirm numbering, and the commands held back while it waits for a worker's answer
// (AMQP channels are processed strictly in order, so a publish sent right after a
// queue.declare must not be routed before the declare has landed).
import AMQPWire
import BrokerModel
import DequeModule
import LinkWire
import NIOCore
import RouterCore

final class RouterChannel {
    let number: ChannelNumber

    enum Phase {
        case open
        /// We sent channel.close; everything but channel.close(-ok) is dropped (spec: channel.close).
        case closing
    }

    var phase: Phase = .open
    /// The synchronous operation this channel waits on, if any; commands wait in `deferred`.
    var waiting: PendingOperation?
    var deferred: Deque<Command> = []
    var consumers: [String: ConsumerRecord] = [:]
    /// basic.qos global=false: the prefetch of consumers created from now on.
    var prefetchCount: UInt16 = 0
    /// basic.qos global=true: the channel-wide prefetch, shared out among workers.
    var credit: GlobalCredit?
    /// The channel's direct reply-to consumer, if it has one.
    var replyConsumer: ReplyConsumer?
    var tags = DeliveryTagMap()
    var confirms: ConfirmTracker?
    /// Workers accepted publishes since the last flush; their confirms go out at the flush,
    /// coalesced into as few `multiple` frames as the tracker allows.
    var confirmsDue = false
    /// The last queue declared on the channel: an empty queue name in later methods means it.
    var lastQueue: QueueName?
    /// Partitions this channel has sent anything to (they learn when it closes).
    var touchedPartitions: Set<PartitionID> = []
    /// Set by tx.select: publishes and acknowledgements wait here until tx.commit.
    var transaction: Transaction?

    struct Transaction {
        var publishes: [(method: BasicPublish, header: ContentHeader, body: ByteBuffer)] = []
        var settles: [(tag: UInt64, multiple: Bool, outcome: SettleOutcome)] = []
    }

    struct ConsumerRecord {
        var partition: PartitionID
        var noAck: Bool
        // What the management API shows about the consumer.
        var queue: QueueName
        var exclusive = false
        var prefetchCount: UInt16 = 0
        var arguments = FieldTable()
    }

    struct ReplyConsumer {
        var tag: String
        /// The part after `amq.rabbitmq.reply-to.` in the names requests carry.
        var name: String
    }

    /// Whether any consumer of the channel is on `partition`.
    func hasConsumers(on partition: PartitionID) -> Bool {
        consumers.values.contains { $0.partition == partition }
    }

    init(number: ChannelNumber) { self.number = number }

    var isBusy: Bool { waiting != nil }
}

/// A synchronous method in flight to one or more workers.
struct PendingOperation {
    enum Kind {
        /// A passive declare does not replace the record the router has (its flags are not stated).
        case queueDeclare(QueueRecord, noWait: Bool, passive: Bool)
        case queueDelete(QueueID, noWait: Bool)
        case queuePurge(noWait: Bool)
        case consume(tag: String, RouterChannel.ConsumerRecord, noWait: Bool)
        case cancel(tag: String, noWait: Bool)
        case get(partition: PartitionID, noAck: Bool)
        case recover(remaining: Int)
    }

    var kind: Kind
    /// The AMQP method being answered, for the class/method ids of an error close.
    var classID: UInt16
    var methodID: UInt16
}
