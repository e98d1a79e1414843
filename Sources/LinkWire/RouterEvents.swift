// What the router receives from a worker, by the stream it arrives on: a client
// connection's stream carries answers, deliveries, confirms and per-channel notices; the
// control stream carries answers to the router's own requests and what only the router can
// route (dead letters, due delayed messages) or must apply (queues gone). Every switch over
// them is exhaustive with nothing that cannot arrive.
import AMQPWire
import BrokerModel
import NIOCore

/// A worker's answer to a synchronous request; `failed` is a channel error.
public enum RequestAnswer: Hashable, Sendable {
    case queueDeclared(queue: QueueName, messageCount: UInt32, consumerCount: UInt32)
    case queueDeleted(messageCount: UInt32)
    case queuePurged(messageCount: UInt32)
    case consumeOk(consumerTag: String)
    case cancelOk(consumerTag: String)
    /// basic.get-ok with the worker's tag (a no-ack get still carries one).
    case getOk(tag: PartitionDeliveryTag, redelivered: Bool, messageCount: UInt32, message: LinkMessage)
    case getEmpty
    case recoverOk
    /// The request failed with a channel error (404, 405, 406 …): the router closes the
    /// channel with this code and text.
    case failed(code: ReplyCode, text: String)
}

/// Worker → router on a client connection's stream.
public enum ConnectionEvent: Hashable, Sendable {
    case answer(LinkRequestID, RequestAnswer)
    /// basic.deliver and its content header already encoded, and the body.
    case delivery(EncodedDelivery)
    /// The publish with this confirm sequence is held by every target queue of the partition.
    case accepted(channel: ChannelNumber, confirmSequence: UInt64)
    /// The publish with this confirm sequence could not be accepted (basic.nack to the client).
    case rejected(channel: ChannelNumber, confirmSequence: UInt64)
    /// The worker cancelled a consumer on its own (its queue was deleted).
    case consumerCancelled(channel: ChannelNumber, consumerTag: String)
    /// A consumer of the channel has messages waiting but the channel's share is used up.
    case creditWanted(channel: ChannelNumber)
    /// The channel's unacked consumer deliveries on this worker while its share is `limit`.
    case channelShareUsage(channel: ChannelNumber, limit: UInt32, unacked: UInt32)
    /// The channel's oldest unacked delivery outlived its consumer timeout (milliseconds).
    case channelTimedOut(channel: ChannelNumber, timeout: UInt64)
}

/// Worker → router on the worker's control stream.
public enum ControlEvent: Hashable, Sendable {
    case answer(LinkRequestID, RequestAnswer)
    /// A queue ceased to exist without a delete on a client's stream (auto-delete, exclusive
    /// owner gone, x-expires): the router drops it and its bindings.
    case queueGone(QueueID)
    /// A message left a queue through dead-lettering: the router records the death and routes it.
    case deadLetter(DeadLetterEvent)
    /// A delayed message is due: the router routes it through its exchange.
    case delayedDue(vhost: VHost, message: LinkMessage)
}
