// What the workers send back for this connection: answers to synchronous methods,
// deliveries, publish acceptances, and consumer cancellations.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore

extension AMQPConnectionHandler {
    func linkEvent(_ event: LinkEvent, from partition: PartitionID) {
        guard connection.isOpen else { return }
        switch event {
        case .encodedDelivery(let delivery):
            deliver(delivery, from: partition)
        case .deliver:
            // Deliveries cross the link encoded; this form exists only inside a worker.
            logger.error("unencoded delivery from a worker ignored", metadata: ["partition": "\(partition.index)"])
        case .accepted(let number, let sequence):
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            channel.confirms?.accepted(sequence, by: partition)
            confirmsDue(on: channel)
        case .rejected(let number, let sequence):
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            channel.confirms?.rejected(sequence, by: partition)
            confirmsDue(on: channel)
        case .consumerCancelled(let number, let tag):
            guard let channel = channels[number.value], channel.state.isOpen,
                  channel.consumers.removeValue(forKey: tag) != nil else { return }
            if connection.clientCapabilities.flag("consumer_cancel_notify") {
                sendMethod(number.value, .basicCancel(BasicCancel(consumerTag: tag, noWait: true)))
            }
            consumerRemoved(from: partition, on: channel)
        case .creditWanted(let number):
            guard let channel = channels[number.value], channel.state.isOpen, var credit = channel.credit else { return }
            let commands = credit.wanted(by: partition)
            channel.credit = credit
            sendCredit(commands, on: channel)
        case .channelShareUsage(let number, let limit, let unacked):
            guard let channel = channels[number.value], channel.state.isOpen, var credit = channel.credit else { return }
            let commands = credit.used(partition, limit: limit, unacked: unacked)
            channel.credit = credit
            sendCredit(commands, on: channel)
        case .channelTimedOut(let number, let timeout):
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            let detail = "delivery acknowledgement on channel \(number.value) timed out. Timeout value used: \(timeout) ms. This timeout value can be configured, see consumers doc guide to learn more"
            closeChannel(channel, .preconditionFailed, ReplyCode.preconditionFailed.replyText(detail), classID: 0, methodID: 0)
        case .queueGone(let queue):
            try? context.topology.update { (t: inout Topology) throws(TopologyError) in t.removeQueue(queue) }
        case .deadLetter, .delayedDue:
            // Messages to route again travel on the control stream, never on a connection's.
            logger.error("republish on a connection stream ignored", metadata: ["partition": "\(partition.index)"])
        case .queueDeclared(let id, _, _, _), .queueDeleted(let id, _), .queuePurged(let id, _),
             .consumeOk(let id, _), .cancelOk(let id, _), .getOk(let id, _, _, _, _), .getEmpty(let id),
             .recoverOk(let id), .failed(let id, _, _):
            answer(id, event, from: partition)
        }
    }

    func linkStreamClosed(partition: PartitionID) {
        guard streams.remove(partition), connection.isOpen else { return }
        for channel in channels.values {
            channel.confirms?.partitionFailed(partition)
            emitConfirms(channel)
        }
        closeConnection(.internalError, "INTERNAL_ERROR - partition \(partition.index) went away")
    }

    /// Copies the worker's encoded basic.deliver with this channel's number and tag patched
    /// in. A delivery for a channel that is gone was already requeued by the worker's
    /// closeChannel, or is still unacked there until the channel closes. A consumer's
    /// deliveries all come before its cancel-ok on the stream, so none arrives for a consumer
    /// this side has forgotten.
    private func deliver(_ delivery: EncodedDelivery, from partition: PartitionID) {
        guard let channel = channels[delivery.channel.value], channel.state.isOpen else { return }
        guard let layout = DeliveryFrames.Layout(delivery.frames) else {
            logger.error("malformed delivery from a worker dropped", metadata: ["partition": "\(partition.index)"])
            return
        }
        let tag = channel.tags.nextTag(partition: partition, partitionTag: delivery.tag, tracked: !delivery.noAck)
        DeliveryFrames.write(prefix: delivery.frames, layout: layout, channel: channel.number.value,
                             deliveryTag: tag.value, body: delivery.body, frameMax: frameMax, into: &clientOutbound)
        services.stats.delivered &+= 1
        scheduleFlush()
    }

    private func answer(_ id: LinkRequestID, _ event: LinkEvent, from partition: PartitionID) {
        guard let (number, _) = requestChannels.removeValue(forKey: id),
              let channel = channels[number.value],
              let pending = channel.state.answered() else { return }
        let n = number.value
        switch (pending.kind, event) {
        case (_, .failed(_, let code, let text)):
            closeChannel(channel, code, text, classID: pending.classID, methodID: pending.methodID)
        case (.queueDeclare(let record, let noWait, let passive), .queueDeclared(_, let queue, let messages, let consumers)):
            if !passive || context.topology.snapshot.queue(record.id) == nil { context.topology.addQueue(record) }
            channel.lastQueue = queue
            if !noWait {
                replyOnceSaved(.queueDeclareOk(QueueDeclareOk(queue: queue.name, messageCount: messages, consumerCount: consumers)),
                               on: channel, classID: pending.classID, methodID: pending.methodID)
            }
        case (.queueDelete(let queue, let noWait), .queueDeleted(_, let messages)):
            try? context.topology.update { (t: inout Topology) throws(TopologyError) in t.removeQueue(queue) }
            if !noWait {
                replyOnceSaved(.queueDeleteOk(QueueDeleteOk(messageCount: messages)), on: channel,
                               classID: pending.classID, methodID: pending.methodID)
            }
        case (.queuePurge(let noWait), .queuePurged(_, let messages)):
            if !noWait { sendMethod(n, .queuePurgeOk(QueuePurgeOk(messageCount: messages))) }
        case (.consume(let tag, let record, let noWait), .consumeOk):
            channel.consumers[tag] = record
            if !noWait { sendMethod(n, .basicConsumeOk(BasicConsumeOk(consumerTag: tag))) }
        case (.cancel(let tag, let noWait), .cancelOk):
            channel.consumers[tag] = nil
            if !noWait { sendMethod(n, .basicCancelOk(BasicCancelOk(consumerTag: tag))) }
            consumerRemoved(from: partition, on: channel)
        case (.get(let partition, let noAck), .getOk(_, let workerTag, let redelivered, let remaining, let message)):
            let tag = channel.tags.nextTag(partition: partition, partitionTag: workerTag, tracked: !noAck)
            services.stats.delivered &+= 1
            sendContent(n, .basicGetOk(BasicGetOk(
                deliveryTag: tag.value, redelivered: redelivered, exchange: message.exchange,
                routingKey: message.routingKey, messageCount: remaining)),
                properties: message.properties, body: message.body)
        case (.get, .getEmpty):
            sendMethod(n, .basicGetEmpty(BasicGetEmpty()))
        case (.recover(let remaining), .recoverOk):
            if remaining > 1 {
                channel.state.wait(for: PendingOperation(kind: .recover(remaining: remaining - 1), classID: pending.classID, methodID: pending.methodID))
                return
            }
            sendMethod(n, .basicRecoverOk(BasicRecoverOk()))
        default:
            logger.error("unexpected answer from worker", metadata: ["partition": "\(partition.index)", "event": "\(event)"])
            closeConnection(.internalError, "INTERNAL_ERROR - unexpected answer from partition \(partition.index)")
            return
        }
        resume(channel)
    }
}

extension TopologyStore {
    func addQueue(_ record: QueueRecord) {
        try? update { (t: inout Topology) throws(TopologyError) in t.addQueue(record) }
    }
}
