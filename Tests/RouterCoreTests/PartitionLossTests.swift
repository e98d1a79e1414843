import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore
import Testing

/// Invariant 9 as a channel sees it: a worker that goes away closes nothing. Its deliveries
/// become orphans whose settles are accepted and go nowhere, its unconfirmed publishes are
/// nacked, a method waiting on it gets RabbitMQ's 404 for a queue whose node is down, and its
/// consumers are re-attached with their tags once it is back.
@Suite("A worker going away, as a channel sees it")
struct PartitionLossTests {
    let channel = RouterChannel(number: ChannelNumber(1))
    var requests = RequestTable()
    let environment = ChannelEnvironment(connection: ConnectionID(7), vhost: .default, partitions: 4, topology: Topology())
    let lost = PartitionID(1)
    let alive = PartitionID(2)

    mutating func send(_ method: AMQPMethod) -> PartitionID? {
        for case .request(_, let partition, _) in channel.receive(method, in: environment, requests: &requests) { return partition }
        return nil
    }

    @Test("settles of a lost worker's deliveries are accepted once, go to no worker, and leave the others' intact")
    func orphanedTags() throws {
        var tags = DeliveryTagMap()
        _ = tags.nextTag(partition: lost, partitionTag: PartitionDeliveryTag(1), tracked: true)   // 1
        _ = tags.nextTag(partition: alive, partitionTag: PartitionDeliveryTag(1), tracked: true)  // 2
        _ = tags.nextTag(partition: lost, partitionTag: PartitionDeliveryTag(2), tracked: true)   // 3
        _ = tags.nextTag(partition: alive, partitionTag: PartitionDeliveryTag(2), tracked: true)  // 4
        tags.orphan(lost)
        // The restarted worker numbers its deliveries from 1 again.
        _ = tags.nextTag(partition: lost, partitionTag: PartitionDeliveryTag(1), tracked: true)   // 5
        #expect(try tags.settleOne(ClientDeliveryTag(1)) == nil)
        #expect(throws: SettleError.unknownTag(ClientDeliveryTag(1))) { try tags.settleOne(ClientDeliveryTag(1)) }
        let settles = try tags.settle(ClientDeliveryTag(5), multiple: true)
        #expect(settles == [WorkerSettle(partition: lost, tag: PartitionDeliveryTag(1), multiple: true),
                            WorkerSettle(partition: alive, tag: PartitionDeliveryTag(2), multiple: true)])
        #expect(tags.outstandingCount == 0)
    }

    @Test("a lost worker's share of a channel-wide prefetch is free at once for the others")
    func creditFreed() {
        var credit = GlobalCredit(total: 10)
        _ = credit.join(lost)
        _ = credit.join(alive)
        #expect(credit.share(of: lost) == 10 && credit.share(of: alive) == 0)
        _ = credit.wanted(by: alive)
        let commands = credit.lost(lost)
        #expect(commands.map(\.partition) == [alive] && commands.map(\.limit) == [10])
        #expect(credit.share(of: lost) == nil)
    }

    @Test("unconfirmed publishes to a lost worker are nacked; others wait for their own workers")
    mutating func confirmsNacked() throws {
        _ = channel.receive(.confirmSelect(ConfirmSelect()), in: environment, requests: &requests)
        for partition in [lost, alive] {
            let sequence = channel.confirms?.nextSequence() ?? 0
            channel.confirms?.published(sequence, partition: partition)
        }
        _ = channel.partitionLost(lost)
        #expect(channel.confirms?.drainActions() == [.nack(deliveryTag: 1, multiple: false)])
    }

    @Test("a declare waiting on a lost worker fails with 404 naming the queue, and the channel no longer waits")
    mutating func pendingDeclare() throws {
        let partition = try #require(send(.queueDeclare(QueueDeclare(queue: "q", durable: true))))
        let entries = requests.removeAll(to: partition)
        #expect(entries.count == 1 && entries[0].reattaching == nil)
        let (actions, classID, methodID) = try #require(channel.answerLost(from: partition))
        #expect(classID == 50 && methodID == 10)
        guard case .fail(404, let text)? = actions.first else {
            Issue.record("expected 404: \(actions)")
            return
        }
        #expect(text == "NOT_FOUND - home node of queue 'q' (partition \(partition.index)) is down or inaccessible")
        #expect(!channel.state.isBusy)
    }

    @Test("a cancel waiting on a lost worker is done: the consumer is forgotten and cancel-ok sent")
    mutating func pendingCancel() throws {
        let partition = try #require(send(.basicConsume(BasicConsume(queue: "q", consumerTag: "c"))))
        _ = channel.answer(.consumeOk(consumerTag: "c"), from: partition)
        _ = send(.basicCancel(BasicCancel(consumerTag: "c")))
        let (actions, _, _) = try #require(channel.answerLost(from: partition))
        #expect(channel.consumers["c"] == nil)
        guard case .send(.basicCancelOk(let ok))? = actions.first else {
            Issue.record("expected cancel-ok: \(actions)")
            return
        }
        #expect(ok.consumerTag == "c")
    }

    @Test("consumers on a worker that is back are re-attached with their tags, queue, flags and priority")
    mutating func reattach() throws {
        _ = channel.receive(.basicQos(BasicQos(prefetchCount: 7)), in: environment, requests: &requests)
        var arguments = FieldTable()
        arguments["x-priority"] = .int32(5)
        let partition = try #require(send(.basicConsume(BasicConsume(queue: "q", consumerTag: "c", exclusive: true, arguments: arguments))))
        _ = channel.answer(.consumeOk(consumerTag: "c"), from: partition)
        _ = channel.partitionLost(partition)
        #expect(channel.reattach(on: PartitionID((partition.index + 1) % 4), vhost: .default, requests: &requests).isEmpty)
        let actions = channel.reattach(on: partition, vhost: .default, requests: &requests)
        guard actions.count == 1, case .request(.consume(let id, let request), partition, answerAwaited: false) = actions[0] else {
            Issue.record("expected one consume request: \(actions)")
            return
        }
        #expect(request == ConsumeRequest(channel: ChannelNumber(1), queue: QueueID(vhost: .default, name: QueueName("q")),
                                          consumerTag: "c", noAck: false, exclusive: true, prefetchCount: 7, priority: 5))
        #expect(requests.answered(id)?.reattaching == "c")
        #expect(!channel.state.isBusy)
    }
}
