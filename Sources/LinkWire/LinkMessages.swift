// LinkWire: the vocabulary the router and the workers speak over the internal HTTP/2 link,
// and its compact binary codec. One data stream per (client connection, worker) carries a
// sequence of length-prefixed messages; `LinkRequest`s flow router → worker, `WorkerEvent`s
// flow worker → router. The stream itself identifies the client connection, so no message
// repeats it.
//
// Invariants: message bodies and properties travel as ByteBuffer slices (never copied by
// the codec); a request that expects an answer carries a `LinkRequestID` that the answer
// echoes; events for one channel arrive in the order the worker produced them.
import AMQPWire
import BrokerModel
import NIOCore

/// Correlates a request with its answer on one stream.
public struct LinkRequestID: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public var description: String { "req-\(value)" }
}

/// A message as the worker stores and delivers it. `properties` are the AMQP content-header
/// property bytes (flags + list) exactly as the publisher sent them.
public struct LinkMessage: Hashable, Sendable {
    public var exchange: String
    public var routingKey: String
    public var properties: ByteBuffer
    public var body: ByteBuffer

    public init(exchange: String, routingKey: String, properties: ByteBuffer, body: ByteBuffer) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }
}

/// What to do with delivered messages named by an ack, nack or reject.
public enum SettleOutcome: UInt8, Hashable, Sendable {
    /// basic.ack: the message is done.
    case ack = 0
    /// basic.nack / basic.reject with requeue=true: back to its original position.
    case requeue = 1
    /// basic.nack / basic.reject with requeue=false: dropped.
    case discard = 2
}

public struct QueueDeclareRequest: Hashable, Sendable {
    public var channel: ChannelNumber
    public var queue: QueueID
    public var passive: Bool
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    /// The declare's `arguments` field table, AMQP-encoded (used to check equivalence).
    public var arguments: ByteBuffer

    public init(channel: ChannelNumber, queue: QueueID, passive: Bool = false, durable: Bool = false,
                exclusive: Bool = false, autoDelete: Bool = false, arguments: ByteBuffer = ByteBuffer()) {
        self.channel = channel
        self.queue = queue
        self.passive = passive
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }
}

/// The queues of one partition a message was routed to: nearly always one, so the first is
/// kept inline and only more need an array (no allocation per publish for one queue).
public struct QueueNames: Hashable, Sendable, RandomAccessCollection {
    public var head: QueueName
    public var rest: [QueueName]

    public init(_ head: QueueName, rest: [QueueName] = []) {
        self.head = head
        self.rest = rest
    }

    /// `names` must not be empty.
    public init(_ names: [QueueName]) {
        precondition(!names.isEmpty, "a publish goes to at least one queue")
        self.init(names[0], rest: Array(names.dropFirst()))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { 1 &+ rest.count }
    public subscript(position: Int) -> QueueName { position == 0 ? head : rest[position &- 1] }
}

public struct PublishRequest: Hashable, Sendable {
    public var channel: ChannelNumber
    /// The channel's confirm sequence number, or 0 when the channel is not in confirm mode.
    public var confirmSequence: UInt64
    public var vhost: VHost
    /// The queues of this worker's partition the message was routed to (at least one).
    public var queues: QueueNames
    public var message: LinkMessage
    /// The message's own time to live in milliseconds (its `expiration` property), if any.
    public var expiration: UInt64?

    public init(channel: ChannelNumber, confirmSequence: UInt64, vhost: VHost, queues: QueueNames, message: LinkMessage,
                expiration: UInt64? = nil) {
        self.channel = channel
        self.confirmSequence = confirmSequence
        self.vhost = vhost
        self.queues = queues
        self.message = message
        self.expiration = expiration
    }

    /// With the queues in an array (at least one).
    public init(channel: ChannelNumber, confirmSequence: UInt64, vhost: VHost, queues: [QueueName], message: LinkMessage,
                expiration: UInt64? = nil) {
        self.init(channel: channel, confirmSequence: confirmSequence, vhost: vhost, queues: QueueNames(queues),
                  message: message, expiration: expiration)
    }
}

public struct ConsumeRequest: Hashable, Sendable {
    public var channel: ChannelNumber
    public var queue: QueueID
    public var consumerTag: String
    public var noAck: Bool
    public var exclusive: Bool
    /// basic.qos prefetch-count in force for this consumer; 0 means unlimited.
    public var prefetchCount: UInt16
    /// The consumer's `x-priority` argument: higher priorities are served first.
    public var priority: Int32

    public init(channel: ChannelNumber, queue: QueueID, consumerTag: String, noAck: Bool, exclusive: Bool,
                prefetchCount: UInt16, priority: Int32 = 0) {
        self.channel = channel
        self.queue = queue
        self.consumerTag = consumerTag
        self.noAck = noAck
        self.exclusive = exclusive
        self.prefetchCount = prefetchCount
        self.priority = priority
    }
}

/// A publish to an `x-delayed-message` exchange with a positive `x-delay`: the worker keeps
/// the message and hands it back (`.delayedDue`) for routing when the delay has passed.
public struct DelayRequest: Hashable, Sendable {
    public var channel: ChannelNumber
    /// The channel's confirm sequence number, or 0 when the channel is not in confirm mode.
    public var confirmSequence: UInt64
    public var vhost: VHost
    /// Milliseconds to wait; `message.exchange` is the delayed exchange.
    public var delay: UInt64
    public var message: LinkMessage

    public init(channel: ChannelNumber, confirmSequence: UInt64, vhost: VHost, delay: UInt64, message: LinkMessage) {
        self.channel = channel
        self.confirmSequence = confirmSequence
        self.vhost = vhost
        self.delay = delay
        self.message = message
    }
}

/// Router → worker.
public enum LinkRequest: Hashable, Sendable {
    /// queue.declare; answered by `.queueDeclared` or `.failed`.
    case declareQueue(LinkRequestID, QueueDeclareRequest)
    /// queue.delete; answered by `.queueDeleted` or `.failed`.
    case deleteQueue(LinkRequestID, channel: ChannelNumber, queue: QueueID, ifUnused: Bool, ifEmpty: Bool)
    /// queue.purge; answered by `.queuePurged` or `.failed`.
    case purgeQueue(LinkRequestID, channel: ChannelNumber, queue: QueueID)
    /// basic.publish routed to queues of this partition; answered by `.accepted` when
    /// `confirmSequence` is not 0.
    case publish(PublishRequest)
    /// basic.consume; answered by `.consumeOk` or `.failed`.
    case consume(LinkRequestID, ConsumeRequest)
    /// basic.cancel; answered by `.cancelOk` (the worker answers even for unknown tags).
    case cancel(LinkRequestID, channel: ChannelNumber, consumerTag: String)
    /// basic.get; answered by `.getOk`, `.getEmpty` or `.failed`.
    case get(LinkRequestID, channel: ChannelNumber, queue: QueueID, noAck: Bool)
    /// basic.ack / nack / reject, already translated to this worker's tags. With
    /// `multiple`, settles every unacked delivery of the channel up to and including `tag`.
    case settle(channel: ChannelNumber, tag: PartitionDeliveryTag, multiple: Bool, outcome: SettleOutcome)
    /// basic.recover: requeue (or redeliver) every unacked delivery of the channel.
    case recover(LinkRequestID, channel: ChannelNumber, requeue: Bool)
    /// The channel closed: cancel its consumers and requeue its unacked deliveries.
    case closeChannel(channel: ChannelNumber)
    /// The channel's share of its global (channel-wide) prefetch on this worker: at most
    /// `limit` unacked consumer deliveries (`nil`: no channel limit). Answered at once by
    /// `.channelShareUsage`, and again when an unacked count above the limit has fallen
    /// within it.
    case setChannelLimit(channel: ChannelNumber, limit: UInt32?)
    /// Keep a message until its delay has passed; answered by `.accepted` when confirming.
    case delay(DelayRequest)
}

/// basic.deliver as the worker's engine produces it. On the link it travels as AMQP frames
/// (``EncodedDelivery``), so the router only patches channel and tag.
public struct DeliveryEvent: Hashable, Sendable {
    public var channel: ChannelNumber
    public var consumerTag: String
    public var tag: PartitionDeliveryTag
    public var redelivered: Bool
    /// The consumer acknowledges nothing: the router does not track the tag for an ack.
    public var noAck: Bool
    public var message: LinkMessage

    public init(channel: ChannelNumber, consumerTag: String, tag: PartitionDeliveryTag, redelivered: Bool,
                noAck: Bool = false, message: LinkMessage) {
        self.channel = channel
        self.consumerTag = consumerTag
        self.tag = tag
        self.redelivered = redelivered
        self.noAck = noAck
        self.message = message
    }
}

/// A ``DeliveryEvent`` as the router receives it: basic.deliver and its content header
/// already encoded (channel 0, delivery tag 0; see `AMQPWire.DeliveryFrames`), and the body.
public struct EncodedDelivery: Hashable, Sendable {
    public var channel: ChannelNumber
    public var tag: PartitionDeliveryTag
    public var noAck: Bool
    public var frames: ByteBuffer
    public var body: ByteBuffer

    public init(channel: ChannelNumber, tag: PartitionDeliveryTag, noAck: Bool, frames: ByteBuffer, body: ByteBuffer) {
        self.channel = channel
        self.tag = tag
        self.noAck = noAck
        self.frames = frames
        self.body = body
    }
}

/// Why a queue dead-lettered a message (the `reason` of RabbitMQ's `x-death` header).
public enum DeadLetterReason: UInt8, Hashable, Sendable {
    case rejected = 0, expired, maxlen

    public var name: String {
        switch self {
        case .rejected: "rejected"
        case .expired: "expired"
        case .maxlen: "maxlen"
        }
    }
}

/// A message a queue dead-lettered: the router adds the `x-death` header and routes it
/// through the queue's dead-letter exchange.
public struct DeadLetterEvent: Hashable, Sendable {
    public var queue: QueueID
    public var reason: DeadLetterReason
    public var deadLetterExchange: String
    /// `x-dead-letter-routing-key`, or nil to keep the message's own routing key.
    public var deadLetterRoutingKey: String?
    public var message: LinkMessage

    public init(queue: QueueID, reason: DeadLetterReason, deadLetterExchange: String, deadLetterRoutingKey: String?, message: LinkMessage) {
        self.queue = queue
        self.reason = reason
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterRoutingKey = deadLetterRoutingKey
        self.message = message
    }
}

/// What a worker sends to the router, as the worker's engine produces it. The router reads
/// the same bytes as a ``ConnectionEvent`` (a client connection's stream) or a
/// ``ControlEvent`` (the control stream), each holding only what can arrive there.
public enum WorkerEvent: Hashable, Sendable {
    case queueDeclared(LinkRequestID, queue: QueueName, messageCount: UInt32, consumerCount: UInt32)
    case queueDeleted(LinkRequestID, messageCount: UInt32)
    case queuePurged(LinkRequestID, messageCount: UInt32)
    case consumeOk(LinkRequestID, consumerTag: String)
    case cancelOk(LinkRequestID, consumerTag: String)
    /// basic.get-ok; `tag` is 0-free worker tag (noAck gets still carry one).
    case getOk(LinkRequestID, tag: PartitionDeliveryTag, redelivered: Bool, messageCount: UInt32, message: LinkMessage)
    case getEmpty(LinkRequestID)
    case recoverOk(LinkRequestID)
    /// The request failed with a channel error (e.g. 404, 405, 406): the router closes the
    /// channel with this code and text.
    case failed(LinkRequestID, code: ReplyCode, text: String)
    /// basic.deliver to a consumer; it crosses the link as AMQP frames and arrives as
    /// ``ConnectionEvent/delivery(_:)``.
    case deliver(DeliveryEvent)
    /// The publish with this confirm sequence is held by every target queue of the partition.
    case accepted(channel: ChannelNumber, confirmSequence: UInt64)
    /// The publish with this confirm sequence could not be accepted (basic.nack to the client).
    case rejected(channel: ChannelNumber, confirmSequence: UInt64)
    /// The worker cancelled a consumer on its own (its queue was deleted): basic.cancel to
    /// the client.
    case consumerCancelled(channel: ChannelNumber, consumerTag: String)
    /// A queue ceased to exist without a delete request on this stream (auto-delete, or
    /// deleted by another connection): the router drops it and its bindings.
    case queueGone(QueueID)
    /// A message left a queue through dead-lettering (sent on one control stream).
    case deadLetter(DeadLetterEvent)
    /// A consumer of the channel has messages waiting but the channel's limit on this
    /// worker is used up (sent once per `setChannelLimit`).
    case creditWanted(channel: ChannelNumber)
    /// The channel's unacked consumer deliveries on this worker while its share is `limit`.
    case channelShareUsage(channel: ChannelNumber, limit: UInt32, unacked: UInt32)
    /// The channel's oldest unacked delivery has waited longer than its queue's consumer
    /// timeout (milliseconds): the router closes the channel with 406.
    case channelTimedOut(channel: ChannelNumber, timeout: UInt64)
    /// A delayed message is due: the router routes it through its exchange (sent on one
    /// control stream).
    case delayedDue(vhost: VHost, message: LinkMessage)
}
