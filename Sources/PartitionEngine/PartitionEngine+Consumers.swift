// basic.consume, basic.cancel and basic.get.
import BrokerModel
import LinkWire

extension PartitionEngine {
    mutating func consume(_ id: LinkRequestID, _ request: ConsumeRequest, from connection: ConnectionID,
                          into output: inout EngineOutput) {
        guard let queue = accessibleQueue(request.queue, for: id, from: connection, into: &output) else { return }
        if queue.hasExclusiveConsumer || (request.exclusive && !queue.consumers.isEmpty) {
            output.fail(id, .exclusiveUse(request.queue), to: connection)
            return
        }
        queue.lastUsed = now
        let channel = self.channel(request.channel, of: connection)
        // The router keeps consumer tags unique per channel; this only guards the engine.
        if channel.consumer(tag: request.consumerTag) != nil {
            output.fail(id, .reusedConsumerTag(request.consumerTag), to: connection)
            return
        }
        let consumer = EngineConsumer(tag: request.consumerTag, channel: channel, queue: queue, noAck: request.noAck,
                                      exclusive: request.exclusive, prefetch: Int(request.prefetchCount),
                                      priority: request.priority)
        channel.consumers.append(consumer)
        queue.addConsumer(consumer)
        output.send(.consumeOk(id, consumerTag: request.consumerTag), to: connection)
        queue.dispatch(now: now, into: &output)
    }

    mutating func cancel(_ id: LinkRequestID, channel number: ChannelNumber, consumerTag: String,
                         from connection: ConnectionID, into output: inout EngineOutput) {
        let consumer = channelIfPresent(number, of: connection)?.consumer(tag: consumerTag)
        if let consumer { consumer.channel.removeConsumer(consumer) }
        output.send(.cancelOk(id, consumerTag: consumerTag), to: connection)
        if let consumer { detach(consumer, into: &output) }
    }

    /// Takes a cancelled consumer off its queue; its unacked deliveries stay unacked (as in
    /// RabbitMQ) until settled or the channel closes. Deletes an auto-delete queue that lost
    /// its last consumer.
    mutating func detach(_ consumer: EngineConsumer, into output: inout EngineOutput) {
        consumer.isActive = false
        let queue = consumer.queue
        queue.removeConsumer(consumer)
        queue.lastUsed = now
        if queue.autoDelete && queue.consumers.isEmpty && !queue.isDeleted {
            _ = delete(queue, into: &output)
            output.broadcast(.queueGone(queue.id))
            return
        }
        // The next consumer may take what this one could not (a single active consumer's
        // successor, or a lower-priority consumer).
        queue.dispatch(now: now, into: &output)
    }

    mutating func get(_ id: LinkRequestID, channel number: ChannelNumber, queue name: QueueID, noAck: Bool,
                      from connection: ConnectionID, into output: inout EngineOutput) {
        guard let queue = accessibleQueue(name, for: id, from: connection, into: &output) else { return }
        queue.lastUsed = now
        queue.expireHead(now: now, into: &output)
        guard let entry = queue.takeHead() else {
            output.send(.getEmpty(id), to: connection)
            return
        }
        queue.noteDelivered(entry, noAck: noAck)
        let channel = self.channel(number, of: connection)
        stats.delivered(redelivered: entry.redelivered, since: entry.enqueuedAt, now: now)
        let tag = channel.nextTag()
        output.send(.getOk(id, tag: PartitionDeliveryTag(tag), redelivered: entry.redelivered,
                           messageCount: UInt32(clamping: queue.readyCount), message: entry.message), to: connection)
        if !noAck {
            queue.unackedCount &+= 1
            channel.unacked.append(UnackedDelivery(tag: tag, queue: queue, consumer: nil, sequence: entry.sequence,
                                                   message: entry.message, deliveredAt: now, stored: entry.stored))
        }
    }
}
