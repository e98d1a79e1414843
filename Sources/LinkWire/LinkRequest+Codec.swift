// Encoding of router → worker messages. Kind numbers are part of the link format: never
// reuse one for another meaning.
import AMQPWire
import BrokerModel
import NIOCore

extension LinkRequest: LinkCodable {
    enum Kind: UInt8 {
        case declareQueue = 1, deleteQueue, purgeQueue, publish, consume, cancel, get, settle, recover, closeChannel,
             setChannelLimit, delay
    }

    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .declareQueue(let id, let declare):
            buffer.writeInteger(Kind.declareQueue.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(declare.channel)
            buffer.writeQueueID(declare.queue)
            let flags: UInt8 = (declare.passive ? 1 : 0) | (declare.durable ? 2 : 0)
                | (declare.exclusive ? 4 : 0) | (declare.autoDelete ? 8 : 0)
            buffer.writeInteger(flags)
            buffer.writeLinkBlob(declare.arguments)
        case .deleteQueue(let id, let channel, let queue, let ifUnused, let ifEmpty):
            buffer.writeInteger(Kind.deleteQueue.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(channel)
            buffer.writeQueueID(queue)
            buffer.writeLinkBool(ifUnused)
            buffer.writeLinkBool(ifEmpty)
        case .purgeQueue(let id, let channel, let queue):
            buffer.writeInteger(Kind.purgeQueue.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(channel)
            buffer.writeQueueID(queue)
        case .publish(let publish):
            buffer.writeRegion(publish)  // LinkMessage+Write.swift
        case .consume(let id, let consume):
            buffer.writeInteger(Kind.consume.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(consume.channel)
            buffer.writeQueueID(consume.queue)
            buffer.writeLinkString(consume.consumerTag)
            buffer.writeLinkBool(consume.noAck)
            buffer.writeLinkBool(consume.exclusive)
            buffer.writeInteger(consume.prefetchCount)
            buffer.writeInteger(consume.priority)
        case .cancel(let id, let channel, let consumerTag):
            buffer.writeInteger(Kind.cancel.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(channel)
            buffer.writeLinkString(consumerTag)
        case .get(let id, let channel, let queue, let noAck):
            buffer.writeInteger(Kind.get.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(channel)
            buffer.writeQueueID(queue)
            buffer.writeLinkBool(noAck)
        case .settle(let channel, let tag, let multiple, let outcome):
            buffer.writeInteger(Kind.settle.rawValue)
            buffer.writeChannel(channel)
            buffer.writeInteger(tag.value)
            buffer.writeLinkBool(multiple)
            buffer.writeInteger(outcome.rawValue)
        case .recover(let id, let channel, let requeue):
            buffer.writeInteger(Kind.recover.rawValue)
            buffer.writeRequestID(id)
            buffer.writeChannel(channel)
            buffer.writeLinkBool(requeue)
        case .closeChannel(let channel):
            buffer.writeInteger(Kind.closeChannel.rawValue)
            buffer.writeChannel(channel)
        case .setChannelLimit(let channel, let limit):
            buffer.writeInteger(Kind.setChannelLimit.rawValue)
            buffer.writeChannel(channel)
            buffer.writeLinkBool(limit != nil)
            buffer.writeInteger(limit ?? 0)
        case .delay(let delay):
            buffer.writeInteger(Kind.delay.rawValue)
            buffer.writeChannel(delay.channel)
            buffer.writeInteger(delay.confirmSequence)
            buffer.writeLinkString(delay.vhost.name)
            buffer.writeInteger(delay.delay)
            buffer.writeLinkMessage(delay.message)
        }
    }

    public static func decode(kind: UInt8, from buffer: inout ByteBuffer) throws(LinkDecodingError) -> LinkRequest {
        guard let kind = Kind(rawValue: kind) else { throw LinkDecodingError("unknown request kind \(kind)") }
        switch kind {
        case .declareQueue:
            let id = try buffer.readRequestID()
            let channel = try buffer.readChannel()
            let queue = try buffer.readQueueID()
            let flags = try buffer.readLinkInteger(UInt8.self)
            let arguments = try buffer.readLinkBlob()
            return .declareQueue(id, QueueDeclareRequest(
                channel: channel, queue: queue, passive: flags & 1 != 0, durable: flags & 2 != 0,
                exclusive: flags & 4 != 0, autoDelete: flags & 8 != 0, arguments: arguments))
        case .deleteQueue:
            return .deleteQueue(try buffer.readRequestID(), channel: try buffer.readChannel(),
                                queue: try buffer.readQueueID(), ifUnused: try buffer.readLinkBool(),
                                ifEmpty: try buffer.readLinkBool())
        case .purgeQueue:
            return .purgeQueue(try buffer.readRequestID(), channel: try buffer.readChannel(), queue: try buffer.readQueueID())
        case .publish:
            let channel = try buffer.readChannel()
            let sequence = try buffer.readLinkInteger(UInt64.self)
            let vhost = VHost(try buffer.readLinkString())
            let count = try buffer.readLinkInteger(UInt16.self)
            guard count > 0 else { throw LinkDecodingError("a publish to no queue") }
            var queues = QueueNames(QueueName(try buffer.readLinkString()))
            if count > 1 {
                queues.rest.reserveCapacity(Int(count) - 1)
                for _ in 1..<count { queues.rest.append(QueueName(try buffer.readLinkString())) }
            }
            let message = try buffer.readLinkMessage()
            let expiration = try buffer.readLinkInteger(UInt64.self)
            return .publish(PublishRequest(channel: channel, confirmSequence: sequence, vhost: vhost,
                                           queues: queues, message: message,
                                           expiration: expiration == .max ? nil : expiration))
        case .consume:
            let id = try buffer.readRequestID()
            return .consume(id, ConsumeRequest(
                channel: try buffer.readChannel(), queue: try buffer.readQueueID(),
                consumerTag: try buffer.readLinkString(), noAck: try buffer.readLinkBool(),
                exclusive: try buffer.readLinkBool(), prefetchCount: try buffer.readLinkInteger(UInt16.self),
                priority: try buffer.readLinkInteger(Int32.self)))
        case .cancel:
            return .cancel(try buffer.readRequestID(), channel: try buffer.readChannel(), consumerTag: try buffer.readLinkString())
        case .get:
            return .get(try buffer.readRequestID(), channel: try buffer.readChannel(),
                        queue: try buffer.readQueueID(), noAck: try buffer.readLinkBool())
        case .settle:
            let channel = try buffer.readChannel()
            let tag = PartitionDeliveryTag(try buffer.readLinkInteger(UInt64.self))
            let multiple = try buffer.readLinkBool()
            guard let outcome = SettleOutcome(rawValue: try buffer.readLinkInteger(UInt8.self)) else {
                throw LinkDecodingError("unknown settle outcome")
            }
            return .settle(channel: channel, tag: tag, multiple: multiple, outcome: outcome)
        case .recover:
            return .recover(try buffer.readRequestID(), channel: try buffer.readChannel(), requeue: try buffer.readLinkBool())
        case .closeChannel:
            return .closeChannel(channel: try buffer.readChannel())
        case .setChannelLimit:
            let channel = try buffer.readChannel()
            let limited = try buffer.readLinkBool()
            let limit = try buffer.readLinkInteger(UInt32.self)
            return .setChannelLimit(channel: channel, limit: limited ? limit : nil)
        case .delay:
            return .delay(DelayRequest(
                channel: try buffer.readChannel(), confirmSequence: try buffer.readLinkInteger(),
                vhost: VHost(try buffer.readLinkString()), delay: try buffer.readLinkInteger(),
                message: try buffer.readLinkMessage()))
        }
    }
}
