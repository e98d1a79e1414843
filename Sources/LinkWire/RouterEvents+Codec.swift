// Decoding of worker → router messages on the router: a client connection's stream and the
// control stream each accept only their own kinds (anything else is a corrupt stream).
// The fields of the kinds both streams carry are read by the same functions.
import AMQPWire
import BrokerModel
import NIOCore

extension ConnectionEvent: LinkDecodable {
    public static func decode(kind: UInt8, from buffer: inout ByteBuffer) throws(LinkDecodingError) -> ConnectionEvent {
        guard let kind = WorkerEventKind(rawValue: kind) else { throw LinkDecodingError("unknown event kind \(kind)") }
        switch kind {
        case .deliverFrames:  // the one kind per message comes first
            return .delivery(EncodedDelivery(
                channel: try buffer.readChannel(), tag: PartitionDeliveryTag(try buffer.readLinkInteger()),
                noAck: try buffer.readLinkBool(), frames: try buffer.readLinkBlob(), body: try buffer.readLinkBlob()))
        case .accepted:
            return .accepted(channel: try buffer.readChannel(), confirmSequence: try buffer.readLinkInteger())
        case .rejected:
            return .rejected(channel: try buffer.readChannel(), confirmSequence: try buffer.readLinkInteger())
        case .consumerCancelled:
            return .consumerCancelled(channel: try buffer.readChannel(), consumerTag: try buffer.readLinkString())
        case .creditWanted:
            return .creditWanted(channel: try buffer.readChannel())
        case .channelShareUsage:
            return .channelShareUsage(channel: try buffer.readChannel(), limit: try buffer.readLinkInteger(),
                                      unacked: try buffer.readLinkInteger())
        case .channelTimedOut:
            return .channelTimedOut(channel: try buffer.readChannel(), timeout: try buffer.readLinkInteger())
        case .queueDeclared, .queueDeleted, .queuePurged, .consumeOk, .cancelOk, .getOk, .getEmpty, .recoverOk, .failed:
            let (id, answer) = try RequestAnswer.decode(kind, from: &buffer)
            return .answer(id, answer)
        case .queueGone, .deadLetter, .delayedDue:
            throw LinkDecodingError("event kind \(kind.rawValue) on a connection stream")
        }
    }
}

extension ControlEvent: LinkDecodable {
    public static func decode(kind: UInt8, from buffer: inout ByteBuffer) throws(LinkDecodingError) -> ControlEvent {
        guard let kind = WorkerEventKind(rawValue: kind) else { throw LinkDecodingError("unknown event kind \(kind)") }
        switch kind {
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
        case .delayedDue:
            return .delayedDue(vhost: VHost(try buffer.readLinkString()), message: try buffer.readLinkMessage())
        case .queueDeclared, .queueDeleted, .queuePurged, .consumeOk, .cancelOk, .getOk, .getEmpty, .recoverOk, .failed:
            let (id, answer) = try RequestAnswer.decode(kind, from: &buffer)
            return .answer(id, answer)
        case .deliverFrames, .accepted, .rejected, .consumerCancelled, .creditWanted, .channelShareUsage, .channelTimedOut:
            throw LinkDecodingError("event kind \(kind.rawValue) on the control stream")
        }
    }
}

extension RequestAnswer {
    /// The fields of an answer kind (both streams carry answers).
    static func decode(_ kind: WorkerEventKind, from buffer: inout ByteBuffer) throws(LinkDecodingError) -> (LinkRequestID, RequestAnswer) {
        let answer: RequestAnswer
        let id = try buffer.readRequestID()
        switch kind {
        case .queueDeclared:
            answer = .queueDeclared(queue: QueueName(try buffer.readLinkString()), messageCount: try buffer.readLinkInteger(),
                                    consumerCount: try buffer.readLinkInteger())
        case .queueDeleted: answer = .queueDeleted(messageCount: try buffer.readLinkInteger())
        case .queuePurged: answer = .queuePurged(messageCount: try buffer.readLinkInteger())
        case .consumeOk: answer = .consumeOk(consumerTag: try buffer.readLinkString())
        case .cancelOk: answer = .cancelOk(consumerTag: try buffer.readLinkString())
        case .getOk:
            answer = .getOk(tag: PartitionDeliveryTag(try buffer.readLinkInteger()), redelivered: try buffer.readLinkBool(),
                            messageCount: try buffer.readLinkInteger(), message: try buffer.readLinkMessage())
        case .getEmpty: answer = .getEmpty
        case .recoverOk: answer = .recoverOk
        case .failed: answer = .failed(code: ReplyCode(rawValue: try buffer.readLinkInteger()), text: try buffer.readLinkString())
        default: throw LinkDecodingError("event kind \(kind.rawValue) is not an answer")
        }
        return (id, answer)
    }
}
