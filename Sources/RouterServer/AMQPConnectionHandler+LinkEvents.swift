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
            guard let channel = channels[number.value], channel.state.isOpen else { return }
            consumerCancelled(tag, on: channel, from: partition)
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

    /// The worker owning `partition` went away (invariant 9): the connection stays open. What
    /// waited on the worker is nacked or failed on its channel, and consumers there are
    /// re-attached once the worker is back.
    func linkStreamClosed(partition: PartitionID) {
        guard streams.remove(partition), connection.isOpen else { return }
        streamsLost.insert(partition)
        streams.outbound[partition.index].clear()
        logger.debug("stream to a worker lost", metadata: ["partition": "\(partition.index)"])
        for channel in channels.values where channel.state.isOpen {
            perform(channel.partitionLost(partition), classID: 0, methodID: 0, on: channel)
            emitConfirms(channel)
        }
        requestsLost(to: partition)
        guard channels.values.contains(where: { $0.state.isOpen && $0.hasConsumers(on: partition) }) else { return }
        if links[partition.index].isLinked {
            linkRestored(partition: partition)  // only the stream was reset: the worker is there
        } else {
            links[partition.index].whenLinked(self)
        }
    }

    /// The requests to `partition` that its worker will not answer: each waiting channel takes
    /// the answer `answerLost` gives.
    func requestsLost(to partition: PartitionID) {
        for entry in requests.removeAll(to: partition) where entry.reattaching == nil {
            guard let channel = channels[entry.channel.value],
                  let (actions, classID, methodID) = channel.answerLost(from: partition) else { continue }
            perform(actions, classID: classID, methodID: methodID, on: channel)
            resume(channel)
        }
    }

    /// The worker owning `partition` is back: the consumers there are re-attached.
    func linkRestored(partition: PartitionID) {
        guard connection.isOpen else { return }
        for channel in channels.values where channel.state.isOpen {
            perform(channel.reattach(on: partition, vhost: vhost, requests: &requests), classID: 0, methodID: 0, on: channel)
        }
    }

    /// The consumer is gone on its worker (its queue was deleted or did not survive a
    /// restart): basic.cancel to a client that asked for consumer_cancel_notify.
    private func consumerCancelled(_ tag: String, on channel: RouterChannel, from partition: PartitionID) {
        guard channel.consumers.removeValue(forKey: tag) != nil else { return }
        if connection.clientCapabilities.flag("consumer_cancel_notify") {
            sendMethod(channel.number.value, .basicCancel(BasicCancel(consumerTag: tag, noWait: true)))
        }
        perform(channel.consumerRemoved(from: partition), classID: 0, methodID: 0, on: channel)
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
        guard let request = requests.answered(id), let channel = channels[request.channel.value], channel.state.isOpen else { return }
        if let tag = request.reattaching {
            if case .consumeOk = answer { return }
            return consumerCancelled(tag, on: channel, from: partition)
        }
        guard let (actions, classID, methodID) = channel.answer(answer, from: partition) else { return }
        perform(actions, classID: classID, methodID: methodID, on: channel)
        resume(channel)
    }
}
