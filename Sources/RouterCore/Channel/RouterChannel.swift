// One open AMQP channel on the router: its life (`state`), what it consumes, its
// delivery-tag translation, its confirm numbering and its transaction.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore

public final class RouterChannel {
    public let number: ChannelNumber
    public var state = ChannelStateMachine()
    public var consumers: [String: ConsumerRecord] = [:]
    /// basic.qos global=false: the prefetch of consumers created from now on.
    public var prefetchCount: UInt16 = 0
    /// basic.qos global=true: the channel-wide prefetch, shared out among workers.
    public var credit: GlobalCredit?
    /// The channel's direct reply-to consumer, if it has one.
    public var replyConsumer: ReplyConsumer?
    public var tags = DeliveryTagMap()
    public var confirms: ConfirmTracker?
    /// Workers accepted publishes since the last flush; their confirms go out at the flush,
    /// coalesced into as few `multiple` frames as the tracker allows.
    public var confirmsDue = false
    /// The last queue declared on the channel: an empty queue name in later methods means it.
    public var lastQueue: QueueName?
    /// Partitions this channel has sent anything to (they learn when it closes).
    public var touchedPartitions: Set<PartitionID> = []
    /// Set by tx.select: publishes and acknowledgements wait here until tx.commit.
    public var transaction: Transaction?

    public init(number: ChannelNumber) { self.number = number }

    public struct Transaction {
        public var publishes: [(method: BasicPublish, header: ContentHeader, body: ByteBuffer)] = []
        public var settles: [(tag: UInt64, multiple: Bool, outcome: SettleOutcome)] = []
        public init() {}
    }

    public struct ConsumerRecord: Sendable {
        public var partition: PartitionID
        public var noAck: Bool
        // What the management API shows about the consumer.
        public var queue: QueueName
        public var exclusive: Bool
        public var prefetchCount: UInt16
        public var arguments: FieldTable
        /// Its `x-priority` argument.
        public var priority: Int32

        public init(partition: PartitionID, noAck: Bool, queue: QueueName, exclusive: Bool = false,
                    prefetchCount: UInt16 = 0, arguments: FieldTable = FieldTable(), priority: Int32 = 0) {
            self.partition = partition
            self.noAck = noAck
            self.queue = queue
            self.exclusive = exclusive
            self.prefetchCount = prefetchCount
            self.arguments = arguments
            self.priority = priority
        }

        /// The worker's consume request for it, on `channel`.
        public func request(_ id: LinkRequestID, channel: ChannelNumber, tag: String, vhost: VHost) -> LinkRequest {
            .consume(id, ConsumeRequest(channel: channel, queue: QueueID(vhost: vhost, name: queue), consumerTag: tag,
                                        noAck: noAck, exclusive: exclusive, prefetchCount: prefetchCount, priority: priority))
        }
    }

    public struct ReplyConsumer: Sendable {
        public var tag: String
        /// The part after `amq.rabbitmq.reply-to.` in the names requests carry.
        public var name: String
        public init(tag: String, name: String) {
            self.tag = tag
            self.name = name
        }
    }

    /// Whether any consumer of the channel is on `partition`.
    public func hasConsumers(on partition: PartitionID) -> Bool {
        consumers.values.contains { $0.partition == partition }
    }

    /// Forgets everything the channel held on the workers' behalf once it is closed there.
    public func release() {
        touchedPartitions.removeAll()
        replyConsumer = nil
        credit = nil
        consumers.removeAll()
        tags.forgetAll()
        confirms = nil
        transaction = nil
    }
}

/// A synchronous method in flight to one or more workers.
public struct PendingOperation: Sendable {
    public enum Kind: Sendable {
        /// A passive declare does not replace the record the router has (its flags are not stated).
        case queueDeclare(QueueRecord, noWait: Bool, passive: Bool)
        case queueDelete(QueueID, noWait: Bool)
        case queuePurge(QueueName, noWait: Bool)
        case consume(tag: String, RouterChannel.ConsumerRecord, noWait: Bool)
        case cancel(tag: String, noWait: Bool)
        case get(QueueName, partition: PartitionID, noAck: Bool)
        case recover(remaining: Int)
        /// A topology change is being saved; `reply` goes out once it is on disk.
        case topologySaved(reply: AMQPMethod)
    }

    public var kind: Kind
    /// The AMQP method being answered, for the class/method ids of an error close.
    public var classID: UInt16
    public var methodID: UInt16

    public init(kind: Kind, classID: UInt16, methodID: UInt16) {
        self.kind = kind
        self.classID = classID
        self.methodID = methodID
    }
}
