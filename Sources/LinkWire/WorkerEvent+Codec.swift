// Worker → router messages: the worker encodes a `WorkerEvent`, the router decodes the same
// bytes as a `ConnectionEvent` or a `ControlEvent` (RouterEvents+Codec.swift), each kind's
// fields read by one function shared by both. Kind numbers are part of the link format:
// never reuse one for another meaning.
import AMQPWire
import BrokerModel
import NIOCore

/// The kinds of worker → router messages.
enum WorkerEventKind: UInt8 {
    case queueDeclared = 64, queueDeleted, queuePurged, consumeOk, cancelOk, getOk, getEmpty, recoverOk, failed
    // 73 carried a delivery's names as strings, before deliverFrames: never reuse it.
    case accepted = 74, rejected, consumerCancelled, queueGone, deadLetter, creditWanted, channelShareUsage,
         channelTimedOut, delayedDue, deliverFrames
}

extension WorkerEvent: LinkEncodable {
    typealias Kind = WorkerEventKind

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
}
