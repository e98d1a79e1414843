// Handing a queue's ready messages to its consumers.
import BrokerModel
import LinkWire

extension EngineQueue {
    /// Delivers ready messages in queue order (highest priority first) to the consumers that
    /// `nextConsumerWithCapacity` picks, until the queue is empty or no consumer can take one.
    func dispatch(now: UInt64, into output: inout EngineOutput) {
        expireHead(now: now, into: &output)
        while !isDeleted, nextReady() != nil, let consumer = nextConsumerWithCapacity(into: &output) {
            let entry = removeFirstReady()
            noteDelivered(entry, noAck: consumer.noAck)
            stats.delivered(redelivered: entry.redelivered, since: entry.enqueuedAt, now: now)
            let channel = consumer.channel
            let tag = channel.nextTag()
            output.send(.deliver(DeliveryEvent(
                channel: channel.number, consumerTag: consumer.tag, tag: PartitionDeliveryTag(tag),
                redelivered: entry.redelivered, noAck: consumer.noAck, message: entry.message)), to: channel.connection)
            channel.owner.produced(entry.message, ledger: ledger)
            if !consumer.noAck {
                consumer.unacked &+= 1
                channel.consumerUnacked &+= 1
                unackedCount &+= 1
                channel.unacked.append(UnackedDelivery(tag: tag, queue: self, consumer: consumer, sequence: entry.sequence,
                                                       message: entry.message, deliveredAt: now, stored: entry.stored))
            }
            expireHead(now: now, into: &output)
        }
    }
}
