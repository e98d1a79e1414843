import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore
import Testing

/// Workers' answers as a channel takes them: records follow, the client's reply is chosen,
/// and a failure closes the channel naming the method it answers.
@Suite("RouterChannel answers")
struct ChannelAnswerTests {
    let channel = RouterChannel(number: ChannelNumber(1))
    var requests = RequestTable()
    let environment = ChannelEnvironment(connection: ConnectionID(7), vhost: .default, partitions: 4, topology: Topology())

    mutating func send(_ method: AMQPMethod) -> PartitionID? {
        for case .request(_, let partition, _) in channel.receive(method, in: environment, requests: &requests) { return partition }
        return nil
    }

    @Test("a declare's answer records the queue, remembers it as the last one and answers declare-ok")
    mutating func declared() throws {
        let partition = try #require(send(.queueDeclare(QueueDeclare(queue: "q", durable: true))))
        let (actions, classID, methodID) = try #require(channel.answer(.queueDeclared(queue: QueueName("q"), messageCount: 3, consumerCount: 1), from: partition))
        #expect(classID == 50 && methodID == 10)
        guard case .addQueue(let record, keepExisting: false, reply: .queueDeclareOk(let ok)?)? = actions.first else {
            Issue.record("expected the queue recorded: \(actions)")
            return
        }
        #expect(record.durable && record.partition == partition && ok.messageCount == 3 && ok.consumerCount == 1)
        #expect(channel.lastQueue == QueueName("q"))
        #expect(!channel.state.isBusy)
    }

    @Test("a failed answer closes the channel with the worker's code and text")
    mutating func failed() throws {
        let partition = try #require(send(.queueDelete(QueueDelete(queue: "q"))))
        let (actions, classID, methodID) = try #require(channel.answer(.failed(code: 406, text: "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty"), from: partition))
        #expect(classID == 50 && methodID == 40)
        guard case .fail(406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty")? = actions.first else {
            Issue.record("expected a channel error: \(actions)")
            return
        }
    }

    @Test("a consumer exists once the worker said consume-ok, and is gone with cancel-ok")
    mutating func consumers() throws {
        let partition = try #require(send(.basicConsume(BasicConsume(queue: "q", consumerTag: "c"))))
        #expect(channel.consumers["c"] == nil)
        _ = channel.answer(.consumeOk(consumerTag: "c"), from: partition)
        #expect(channel.consumers["c"]?.partition == partition)
        _ = send(.basicCancel(BasicCancel(consumerTag: "c")))
        let (actions, _, _) = try #require(channel.answer(.cancelOk(consumerTag: "c"), from: partition))
        #expect(channel.consumers["c"] == nil)
        guard case .send(.basicCancelOk(let ok))? = actions.first else {
            Issue.record("expected cancel-ok: \(actions)")
            return
        }
        #expect(ok.consumerTag == "c")
    }

    @Test("a get-ok gets the channel's next delivery tag")
    mutating func getOk() throws {
        let partition = try #require(send(.basicGet(BasicGet(queue: "q", noAck: false))))
        let message = LinkMessage(exchange: "", routingKey: "q", properties: ByteBuffer(), body: ByteBuffer(string: "x"))
        let (actions, _, _) = try #require(channel.answer(.getOk(tag: PartitionDeliveryTag(41), redelivered: true, messageCount: 2, message: message), from: partition))
        guard case .sendGetOk(let ok, _)? = actions.first else {
            Issue.record("expected get-ok: \(actions)")
            return
        }
        #expect(ok.deliveryTag == 1 && ok.redelivered && ok.messageCount == 2)
        #expect(channel.tags.isOutstanding(ClientDeliveryTag(1)))
    }

    @Test("recover waits for every worker the channel used before recover-ok")
    mutating func recover() throws {
        channel.touchedPartitions = [PartitionID(0), PartitionID(3)]
        _ = channel.receive(.basicRecover(BasicRecover(requeue: true)), in: environment, requests: &requests)
        #expect(channel.answer(.recoverOk, from: PartitionID(0))?.actions.isEmpty == true)
        let (actions, _, _) = try #require(channel.answer(.recoverOk, from: PartitionID(3)))
        guard case .send(.basicRecoverOk)? = actions.first else {
            Issue.record("expected recover-ok: \(actions)")
            return
        }
    }

    @Test("an answer that does not fit the method closes the connection")
    mutating func mismatched() throws {
        let partition = try #require(send(.queuePurge(QueuePurge(queue: "q"))))
        let (actions, _, _) = try #require(channel.answer(.getEmpty, from: partition))
        guard case .closeConnection(.internalError, _)? = actions.first else {
            Issue.record("expected a connection error: \(actions)")
            return
        }
    }

    @Test("an answer for a channel that no longer waits is ignored")
    func notWaiting() {
        #expect(channel.answer(.recoverOk, from: PartitionID(0)) == nil)
    }
}
