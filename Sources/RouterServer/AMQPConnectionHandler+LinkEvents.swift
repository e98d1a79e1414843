// What the workers send back on this connection's streams (`ConnectionEvent`): answers to
// synchronous methods (decided by `RouterChannel.answer`), deliveries, publish acceptances,
// consumer cancellations and channel-wide prefetch bookkeeping.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore

extension AMQPConnectionHandler {
    func linkEvent(_ event: ConnectionEvent, from partition: PartitionID) {
        guard connection.isOpen else { return }
        switch event {
        case .delivery(let delivery):
            deliver(delivery, from: partition)
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
            perform(channel.consumerRemoved(from: partition), classID: 0, methodID: 0, on: channel)
        case .creditWanted(let number):
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            perform(channel.creditWanted(by: partition), classID: 0, methodID: 0, on: channel)
        case .channelShareUsage(let number, let limit, let unacked):
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            perform(channel.creditUsed(by: partition, limit: limit, unacked: unacked), classID: 0, methodID: 0, on: channel)
        case .channelTimedOut(let number, let timeout):
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            let detail = "delivery acknowledgement on channel \(number.value) timed out. Timeout value used: \(timeout) ms. This timeout value can be configured, see consumers doc guide to learn more"
            closeChannel(channel, .preconditionFailed, ReplyCode.preconditionFailed.replyText(detail), classID: 0, methodID: 0)
        case .answer(let id, let answer):
            self.answer(id, answer, from: partition)
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

    private func answer(_ id: LinkRequestID, _ answer: RequestAnswer, from partition: PartitionID) {
        guard let (number, _) = requests.answered(id), let channel = channels[number.value],
              let (actions, classID, methodID) = channel.answer(answer, from: partition) else { return }
        perform(actions, classID: classID, methodID: methodID, on: channel)
        resume(channel)
    }
}
