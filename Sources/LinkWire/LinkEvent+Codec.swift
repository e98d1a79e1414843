// Encoding of worker → router messages. Kind numbers are part of the link format: never
// reuse one for another meaning.
import AMQPWire
import BrokerModel
import NIOCore

extension LinkEvent: LinkCodable {
    enum Kind: UInt8 {
        case queueDeclared = 64, queueDeleted, queuePurged, consumeOk, cancelOk, getOk, getEmpty,
             recoverOk, failed, retiredDeliver, accepted, rejected, consumerCancelled, queueGone, deadLetter,
             creditWanted, channelShareUsage, channelTimedOut, delayedDue, deliverFrames
        // retiredDeliver (73) carried a delivery's names as strings, before deliverFrames.
    }

    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .queueDeclared(let id, let queue, let messageCount, let consumerCount):
            buffer.writeInteger(Kind.queueDeclared.rawValue)
            buffer.writeRequestID(id)
            buffer.writeLinkString(queue.name)
            buffer.writeInteger(messageCount)
            buffer.writeInteger(consumerCount)
        case .queueDeleted(let id, let messageCount):
            buffer.writeInteger(Kind.queueDeleted.rawValue)
            buffer.writeRequestID(id)
            buffer.writeInteger(messageCount)
        case .queuePurged(let id, let messageCount):
            buffer.writeInteger(Kind.queuePurged.rawValue)
            buffer.writeRequestID(id)
            buffer.writeInteger(messageCount)
        case .consumeOk(let id, let consumerTag):
            buffer.writeInteger(Kind.consumeOk.rawValue)
            buffer.writeRequestID(id)
            buffer.writeLinkString(consumerTag)
        case .cancelOk(let id, let consumerTag):
            buffer.writeInteger(Kind.cancelOk.rawValue)
            buffer.writeRequestID(id)
            buffer.writeLinkString(consumerTag)
        case .getOk(let id, let tag, let redelivered, let messageCount, let message):
            buffer.writeInteger(Kind.getOk.rawValue)
            buffer.writeRequestID(id)
            buffer.writeInteger(tag.value)
            buffer.writeLinkBool(redelivered)
            buffer.writeInteger(messageCount)
            buffer.writeLinkMessage(message)
        case .getEmpty(let id):
            buffer.writeInteger(Kind.getEmpty.rawValue)
            buffer.writeRequestID(id)
        case .recoverOk(let id):
            buffer.writeInteger(Kind.recoverOk.rawValue)
            buffer.writeRequestID(id)
        case .failed(let id, let code, let text):
            buffer.writeInteger(Kind.failed.rawValue)
            buffer.writeRequestID(id)
            buffer.writeInteger(code.rawValue)
            buffer.writeLinkString(text)
        case .deliver(let delivery):
            buffer.writeRegion(delivery)  // LinkMessage+Write.swift
        case .encodedDelivery(let delivery):
            buffer.writeInteger(Kind.deliverFrames.rawValue)
            buffer.writeChannel(delivery.channel)
            buffer.writeInteger(delivery.tag.value)
            buffer.writeLinkBool(delivery.noAck)
            buffer.writeLinkBlob(delivery.frames)
            buffer.writeLinkBlob(delivery.body)
        case .accepted(let channel, let sequence):
            buffer.writeInteger(Kind.accepted.rawValue)
            buffer.writeChannel(channel)
            buffer.writeInteger(sequence)
        case .rejected(let channel, let sequence):
            buffer.writeInteger(Kind.rejected.rawValue)
            buffer.writeChannel(channel)
            buffer.writeInteger(sequence)
        case .consumerCancelled(let channel, let consumerTag):
            buffer.writeInteger(Kind.consumerCancelled.rawValue)
            buffer.writeChannel(channel)
            buffer.writeLinkString(consumerTag)
        case .queueGone(let queue):
            buffer.writeInteger(Kind.queueGone.rawValue)
            buffer.writeQueueID(queue)
        case .deadLetter(let dead):
            buffer.writeInteger(Kind.deadLetter.rawValue)
            buffer.writeQueueID(dead.queue)
            buffer.writeInteger(dead.reason.rawValue)
            buffer.writeLinkString(dead.deadLetterExchange)
            buffer.writeLinkBool(dead.deadLetterRoutingKey != nil)
            buffer.writeLinkString(dead.deadLetterRoutingKey ?? "")
            buffer.writeLinkMessage(dead.message)
        case .creditWanted(let channel):
            buffer.writeInteger(Kind.creditWanted.rawValue)
            buffer.writeChannel(channel)
        case .channelShareUsage(let channel, let limit, let unacked):
            buffer.writeInteger(Kind.channelShareUsage.rawValue)
            buffer.writeChannel(channel)
            buffer.writeInteger(limit)
            buffer.writeInteger(unacked)
        case .channelTimedOut(let channel, let timeout):
            buffer.writeInteger(Kind.channelTimedOut.rawValue)
            buffer.writeChannel(channel)
            buffer.writeInteger(timeout)
        case .delayedDue(let vhost, let message):
            buffer.writeInteger(Kind.delayedDue.rawValue)
            buffer.writeLinkString(vhost.name)
            buffer.writeLinkMessage(message)
        }
    }

    public static func decode(kind: UInt8, from buffer: inout ByteBuffer) throws(LinkDecodingError) -> LinkEvent {
        guard let kind = Kind(rawValue: kind) else { throw LinkDecodingError("unknown event kind \(kind)") }
        switch kind {
        case .queueDeclared:
            return .queueDeclared(try buffer.readRequestID(), queue: QueueName(try buffer.readLinkString()),
                                  messageCount: try buffer.readLinkInteger(), consumerCount: try buffer.readLinkInteger())
        case .queueDeleted:
            return .queueDeleted(try buffer.readRequestID(), messageCount: try buffer.readLinkInteger())
        case .queuePurged:
            return .queuePurged(try buffer.readRequestID(), messageCount: try buffer.readLinkInteger())
        case .consumeOk:
            return .consumeOk(try buffer.readRequestID(), consumerTag: try buffer.readLinkString())
        case .cancelOk:
            return .cancelOk(try buffer.readRequestID(), consumerTag: try buffer.readLinkString())
        case .getOk:
            return .getOk(try buffer.readRequestID(), tag: PartitionDeliveryTag(try buffer.readLinkInteger()),
                          redelivered: try buffer.readLinkBool(), messageCount: try buffer.readLinkInteger(),
                          message: try buffer.readLinkMessage())
        case .getEmpty:
            return .getEmpty(try buffer.readRequestID())
        case .recoverOk:
            return .recoverOk(try buffer.readRequestID())
        case .failed:
            return .failed(try buffer.readRequestID(), code: ReplyCode(rawValue: try buffer.readLinkInteger()), text: try buffer.readLinkString())
        case .retiredDeliver:
            throw LinkDecodingError("retired event kind \(kind.rawValue)")
        case .deliverFrames:
            return .encodedDelivery(EncodedDelivery(
                channel: try buffer.readChannel(), tag: PartitionDeliveryTag(try buffer.readLinkInteger()),
                noAck: try buffer.readLinkBool(), frames: try buffer.readLinkBlob(), body: try buffer.readLinkBlob()))
        case .accepted:
            return .accepted(channel: try buffer.readChannel(), confirmSequence: try buffer.readLinkInteger())
        case .rejected:
            return .rejected(channel: try buffer.readChannel(), confirmSequence: try buffer.readLinkInteger())
        case .consumerCancelled:
            return .consumerCancelled(channel: try buffer.readChannel(), consumerTag: try buffer.readLinkString())
        case .queueGone:
            return .queueGone(try buffer.readQueueID())
        case .deadLetter:
            let queue = try buffer.readQueueID()
            guard let reason = DeadLetterReason(rawValue: try buffer.readLinkInteger(UInt8.self)) else {
                throw LinkDecodingError("unknown dead-letter reason")
            }
            let exchange = try buffer.readLinkString()
            let hasKey = try buffer.readLinkBool()
            let key = try buffer.readLinkString()
            return .deadLetter(DeadLetterEvent(queue: queue, reason: reason, deadLetterExchange: exchange,
                                               deadLetterRoutingKey: hasKey ? key : nil, message: try buffer.readLinkMessage()))
        case .creditWanted:
            return .creditWanted(channel: try buffer.readChannel())
        case .channelShareUsage:
            return .channelShareUsage(channel: try buffer.readChannel(), limit: try buffer.readLinkInteger(),
                                      unacked: try buffer.readLinkInteger())
        case .channelTimedOut:
            return .channelTimedOut(channel: try buffer.readChannel(), timeout: try buffer.readLinkInteger())
        case .delayedDue:
            return .delayedDue(vhost: VHost(try buffer.readLinkString()), message: try buffer.readLinkMessage())
        }
    }
}
