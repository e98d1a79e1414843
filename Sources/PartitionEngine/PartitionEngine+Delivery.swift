// basic.publish, ack / nack / reject, basic.recover and channel close: the per-message path.
import BrokerModel
import LinkWire

extension PartitionEngine {
    mutating func publish(_ request: PublishRequest, from connection: ConnectionID, into output: inout EngineOutput) {
        if request.queues.count == 1 {
            // The common case, without the scratch list.
            let id = QueueID(vhost: request.vhost, name: request.queues[0])
            let queue: EngineQueue?
            if let last = lastPublished, !last.isDeleted, last.id == id {
                queue = last
            } else {
                queue = queues[id]
                lastPublished = queue
            }
            if request.expiration != nil, let queue { timedQueues[ObjectIdentifier(queue)] = queue }
            var stored = false
            let accepted = queue?.enqueue(request.message, expiration: request.expiration, now: now, stored: &stored,
                                          into: &output) ?? true
            confirm(request, accepted: accepted, afterSync: stored, to: connection, into: &output)
            queue?.dispatch(now: now, into: &output)
            return
        }
        var touched = takeScratch()
        var accepted = true
        var stored = false
        for name in request.queues {
            // A queue deleted since the router routed the message is skipped.
            guard let queue = queues[QueueID(vhost: request.vhost, name: name)] else { continue }
            if request.expiration != nil { timedQueues[ObjectIdentifier(queue)] = queue }
            if !queue.enqueue(request.message, expiration: request.expiration, now: now, stored: &stored, into: &output) {
                accepted = false
            }
            noteTouched(queue, in: &touched)
        }
        confirm(request, accepted: accepted, afterSync: stored, to: connection, into: &output)
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    /// Accepted even when every target queue has gone: the router counts it as routed. A
    /// queue that refused it (reject-publish overflow) makes it a nack, as in RabbitMQ. A
    /// message written to the store is confirmed only once the store has synced it.
    private func confirm(_ request: PublishRequest, accepted: Bool, afterSync: Bool, to connection: ConnectionID,
                         into output: inout EngineOutput) {
        guard request.confirmSequence != 0 else { return }
        let event: WorkerEvent = accepted
            ? .accepted(channel: request.channel, confirmSequence: request.confirmSequence)
            : .rejected(channel: request.channel, confirmSequence: request.confirmSequence)
        if afterSync {
            output.sendAfterSync(event, to: connection)
        } else {
            output.send(event, to: connection)
        }
    }

    mutating func settle(channel number: ChannelNumber, tag: UInt64, multiple: Bool, outcome: SettleOutcome,
                         from connection: ConnectionID, into output: inout EngineOutput) {
        // Unknown tags are ignored: the router has already validated them.
        guard let channel = channelIfPresent(number, of: connection) else { return }
        if !multiple {
            guard let delivery = channel.takeUnacked(tag: tag) else { return }
            Self.settle(delivery, outcome, into: &output)
            delivery.queue.dispatch(now: now, into: &output)
            return
        }
        var touched = takeScratch()
        while let first = channel.unacked.first, first.tag <= tag {
            let delivery = channel.unacked.removeFirst()
            Self.settle(delivery, outcome, into: &output)
            noteTouched(delivery.queue, in: &touched)
        }
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    /// Frees the consumer's prefetch slot and acks, requeues or discards the message (a
    /// discarded one goes to the queue's dead-letter exchange, if it has one).
    static func settle(_ delivery: UnackedDelivery, _ outcome: SettleOutcome, into output: inout EngineOutput) {
        if let consumer = delivery.consumer {
            consumer.unacked &-= 1
            consumer.channel.consumerDeliverySettled(into: &output)
        }
        let queue = delivery.queue
        guard !queue.isDeleted else {
            queue.forget(delivery.sequence, stored: delivery.stored)
            return
        }
        queue.unackedCount &-= 1
        switch outcome {
        case .ack:
            queue.stats.counters.acked &+= 1
            queue.forget(delivery.sequence, stored: delivery.stored)
        case .requeue:
            queue.requeue(sequence: delivery.sequence, message: delivery.message, deliveredAt: delivery.deliveredAt,
                          stored: delivery.stored)
        case .discard:
            queue.stats.counters.discarded &+= 1
            queue.forget(delivery.sequence, stored: delivery.stored)
            queue.deadLetter(delivery.message, .rejected, into: &output)
        }
    }

    mutating func recover(_ id: LinkRequestID, channel number: ChannelNumber, from connection: ConnectionID,
                          into output: inout EngineOutput) {
        var touched = takeScratch()
        if let channel = channelIfPresent(number, of: connection) {
            requeueAll(channel, touched: &touched, into: &output)
        }
        output.send(.recoverOk(id), to: connection)
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    mutating func closeChannel(_ number: ChannelNumber, of connection: ConnectionID, into output: inout EngineOutput) {
        guard let channel = connections[connection]?.channels.removeValue(forKey: number) else { return }
        var touched = takeScratch()
        close(channel, touched: &touched, into: &output)
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    /// Cancels the channel's consumers and requeues its unacked deliveries; the queues that
    /// got messages back are added to `touched` for the caller to dispatch.
    mutating func close(_ channel: EngineChannel, touched: inout [EngineQueue], into output: inout EngineOutput) {
        let consumers = channel.consumers
        channel.consumers.removeAll()
        for consumer in consumers { detach(consumer, into: &output) }
        channel.limit = nil  // gone with the channel: nothing to report
        requeueAll(channel, touched: &touched, into: &output)
    }

    func requeueAll(_ channel: EngineChannel, touched: inout [EngineQueue], into output: inout EngineOutput) {
        while let delivery = channel.unacked.popFirst() {
            Self.settle(delivery, .requeue, into: &output)
            if !delivery.queue.isDeleted { noteTouched(delivery.queue, in: &touched) }
        }
    }
}
