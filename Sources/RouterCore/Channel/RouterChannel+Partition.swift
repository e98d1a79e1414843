// Invariant 9: a worker's failure is not the client's. When the worker owning a partition
// goes away (crash, restart, upgrade) the channel stays open: its unconfirmed publishes there
// are nacked, its deliveries from there become orphans whose settles are accepted and go
// nowhere (the restarted worker redelivers those messages with `redelivered` set), the worker's
// share of a channel-wide prefetch is freed, and a method waiting on that worker fails with
// 404 as RabbitMQ answers for a queue whose node is down. Once the worker is back, the
// channel's consumers there are re-attached with their tags.
import AMQPWire
import BrokerModel
import LinkWire

extension RouterChannel {
    /// The worker owning `partition` went away. The handler sends the nacks the confirm
    /// tracker now holds.
    public func partitionLost(_ partition: PartitionID) -> [ChannelAction] {
        tags.orphan(partition)
        confirms?.partitionFailed(partition)
        touchedPartitions.remove(partition)
        return shareCredit { $0.lost(partition) }
    }

    /// The answer a request to a lost worker will never get, as the channel takes it: a
    /// cancel or recover is done (the worker forgot the consumer and requeues what it held);
    /// anything else fails with 404. Nil when the channel waits on no worker.
    public func answerLost(from partition: PartitionID) -> (actions: [ChannelAction], classID: UInt16, methodID: UInt16)? {
        guard let pending = state.waiting else { return nil }
        let answer: RequestAnswer
        switch pending.kind {
        case .cancel(let tag, _): answer = .cancelOk(consumerTag: tag)
        case .recover: answer = .recoverOk
        case .queueDeclare(let record, _, _): answer = Self.unavailable(record.id.name, on: partition)
        case .queueDelete(let queue, _): answer = Self.unavailable(queue.name, on: partition)
        case .queuePurge(let queue, _), .get(let queue, _, _): answer = Self.unavailable(queue, on: partition)
        case .consume(_, let record, _): answer = Self.unavailable(record.queue, on: partition)
        case .topologySaved: return nil  // waits on the disk, not on a worker
        }
        return self.answer(answer, from: partition)
    }

    /// RabbitMQ's 404 for a queue whose home node is down.
    static func unavailable(_ queue: QueueName, on partition: PartitionID) -> RequestAnswer {
        .failed(code: .notFound,
                text: ReplyCode.notFound.replyText("home node of queue '\(queue.name)' (partition \(partition.index)) is down or inaccessible"))
    }

    /// The worker owning `partition` is back: consume requests for the channel's consumers
    /// there, with their tags. A refusal (the queue did not survive the restart) cancels the
    /// consumer, as when its queue is deleted.
    public func reattach(on partition: PartitionID, vhost: VHost, requests: inout RequestTable) -> [ChannelAction] {
        let tags = consumers.filter { $0.value.partition == partition }.keys.sorted()
        guard !tags.isEmpty else { return [] }
        touchedPartitions.insert(partition)
        var actions = shareCredit { $0.join(partition) }
        for tag in tags {
            let id = requests.make(channel: number, partition: partition, reattaching: tag)
            actions.append(.request(consumers[tag]!.request(id, channel: number, tag: tag, vhost: vhost),
                                    to: partition, answerAwaited: false))
        }
        return actions
    }
}
