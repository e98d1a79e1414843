// A worker's answer to the synchronous method a channel waits on, as the router decides it:
// the channel's records follow (consumers, last queue, delivery tags) and the client gets its
// reply; the handler then runs the commands the channel held meanwhile.
import AMQPWire
import BrokerModel
import LinkWire

extension RouterChannel {
    /// The actions for `answer` from the worker owning `partition`, with the class and method
    /// ids of the method it answers (for an error close); nil when the channel no longer waits.
    public func answer(_ answer: RequestAnswer, from partition: PartitionID) -> (actions: [ChannelAction], classID: UInt16, methodID: UInt16)? {
        guard let pending = state.answered() else { return nil }
        return (actions(for: answer, to: pending, from: partition), pending.classID, pending.methodID)
    }

    private func actions(for answer: RequestAnswer, to pending: PendingOperation, from partition: PartitionID) -> [ChannelAction] {
        switch (pending.kind, answer) {
        case (_, .failed(let code, let text)):
            return [.fail(code, text)]
        case (.queueDeclare(let record, let noWait, let passive), .queueDeclared(let queue, let messages, let consumers)):
            lastQueue = queue
            let reply: AMQPMethod? = noWait ? nil
                : .queueDeclareOk(QueueDeclareOk(queue: queue.name, messageCount: messages, consumerCount: consumers))
            // A passive declare does not replace the record the router has (its flags are not stated).
            return [.addQueue(record, keepExisting: passive, reply: reply)]
        case (.queueDelete(let queue, let noWait), .queueDeleted(let messages)):
            return [.removeQueue(queue, reply: noWait ? nil : .queueDeleteOk(QueueDeleteOk(messageCount: messages)))]
        case (.queuePurge(_, let noWait), .queuePurged(let messages)):
            return noWait ? [] : [.send(.queuePurgeOk(QueuePurgeOk(messageCount: messages)))]
        case (.consume(let tag, let record, let noWait), .consumeOk):
            consumers[tag] = record
            return noWait ? [] : [.send(.basicConsumeOk(BasicConsumeOk(consumerTag: tag)))]
        case (.cancel(let tag, let noWait), .cancelOk):
            consumers[tag] = nil
            return (noWait ? [] : [.send(.basicCancelOk(BasicCancelOk(consumerTag: tag)))]) + consumerRemoved(from: partition)
        case (.get(_, let partition, let noAck), .getOk(let workerTag, let redelivered, let remaining, let message)):
            let tag = tags.nextTag(partition: partition, partitionTag: workerTag, tracked: !noAck)
            return [.sendGetOk(BasicGetOk(deliveryTag: tag.value, redelivered: redelivered, exchange: message.exchange,
                                          routingKey: message.routingKey, messageCount: remaining), message)]
        case (.get, .getEmpty):
            return [.send(.basicGetEmpty(BasicGetEmpty()))]
        case (.recover(let remaining), .recoverOk):
            guard remaining <= 1 else {
                state.wait(for: PendingOperation(kind: .recover(remaining: remaining - 1), classID: pending.classID, methodID: pending.methodID))
                return []
            }
            return [.send(.basicRecoverOk(BasicRecoverOk()))]
        default:
            return [.closeConnection(.internalError, "INTERNAL_ERROR - unexpected answer from partition \(partition.index)")]
        }
    }

    /// A consumer of the channel on `partition` is gone; with the last one there, the
    /// worker's share of a global prefetch returns to the others.
    public func consumerRemoved(from partition: PartitionID) -> [ChannelAction] {
        guard !hasConsumers(on: partition) else { return [] }
        return shareCredit { $0.leave(partition) }
    }

    /// The worker owning `partition` has consumers waiting on its used-up share.
    public func creditWanted(by partition: PartitionID) -> [ChannelAction] {
        shareCredit { $0.wanted(by: partition) }
    }

    /// The worker's unacked deliveries of the channel while its share is `limit`.
    public func creditUsed(by partition: PartitionID, limit: UInt32, unacked: UInt32) -> [ChannelAction] {
        shareCredit { $0.used(partition, limit: limit, unacked: unacked) }
    }

    /// Changes the channel-wide prefetch's shares (nothing without one) and tells the workers.
    func shareCredit(_ change: (inout GlobalCredit) -> [GlobalCredit.Command]) -> [ChannelAction] {
        guard var credit else { return [] }
        let commands = change(&credit)
        self.credit = credit
        return creditRequests(commands)
    }
}
