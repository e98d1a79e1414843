import AMQPWire
import BrokerModel
import LinkWire
import RouterCore
import Testing

/// The channel methods as RouterCore decides them: every channel and connection error the
/// router itself gives, and what each valid method asks of the topology and the workers.
@Suite("RouterChannel methods")
struct ChannelMethodTests {
    let channel = RouterChannel(number: ChannelNumber(1))
    var requests = RequestTable()
    var environment = ChannelEnvironment(connection: ConnectionID(7), vhost: .default, partitions: 4, topology: Topology())

    mutating func receive(_ method: AMQPMethod) -> [ChannelAction] {
        channel.receive(method, in: environment, requests: &requests)
    }

    /// The one error the actions end in, as (code, text, scope).
    static func error(_ actions: [ChannelAction]) -> (code: UInt16, text: String, connection: Bool)? {
        for action in actions {
            switch action {
            case .fail(let code, let text): return (code.rawValue, text, false)
            case .closeConnection(let code, let text): return (code.rawValue, text, true)
            default: continue
            }
        }
        return nil
    }

    static func sent(_ actions: [ChannelAction]) -> [AMQPMethod] {
        actions.compactMap { if case .send(let method) = $0 { method } else { nil } }
    }

    static func requests(_ actions: [ChannelAction]) -> [(LinkRequest, PartitionID)] {
        actions.compactMap { if case .request(let request, let partition, _) = $0 { (request, partition) } else { nil } }
    }

    @Test("confirm and tx modes exclude each other (406)")
    mutating func modes() {
        #expect(Self.sent(receive(.confirmSelect(ConfirmSelect(nowait: false)))) == [.confirmSelectOk(ConfirmSelectOk())])
        let refused = Self.error(receive(.txSelect(TxSelect())))
        #expect(refused?.code == 406 && refused?.text == "PRECONDITION_FAILED - cannot switch from confirm to tx mode" && refused?.connection == false)
        let other = RouterChannel(number: ChannelNumber(2))
        _ = other.receive(.txSelect(TxSelect()), in: environment, requests: &requests)
        let back = Self.error(other.receive(.confirmSelect(ConfirmSelect(nowait: false)), in: environment, requests: &requests))
        #expect(back?.text == "PRECONDITION_FAILED - cannot switch from tx to confirm mode")
    }

    @Test("commit or rollback outside a transaction is 406; inside, commit hands over what was kept")
    mutating func transactions() {
        #expect(Self.error(receive(.txCommit(TxCommit())))?.text == "PRECONDITION_FAILED - channel is not transactional")
        let tx = RouterChannel(number: ChannelNumber(3))
        _ = tx.receive(.txSelect(TxSelect()), in: environment, requests: &requests)
        guard case .unknownTag = tx.settle(5, multiple: false, outcome: .ack) else {
            Issue.record("an unknown tag in a transaction must be refused at once")
            return
        }
        guard case .heldForCommit = tx.settle(0, multiple: true, outcome: .ack) else {
            Issue.record("ack of everything is kept for the commit")
            return
        }
        let actions = tx.receive(.txCommit(TxCommit()), in: environment, requests: &requests)
        guard case .commit(let committed)? = actions.first else {
            Issue.record("no commit action")
            return
        }
        #expect(committed.settles.count == 1)
        #expect(Self.sent(tx.receive(.txRollback(TxRollback()), in: environment, requests: &requests)) == [.txRollbackOk(TxRollbackOk())])
    }

    @Test("an unknown delivery tag is refused")
    func unknownTag() {
        guard case .unknownTag = channel.settle(1, multiple: false, outcome: .ack) else {
            Issue.record("tag 1 was never delivered")
            return
        }
    }

    @Test("unsupported options are 540 connection errors, as RabbitMQ")
    mutating func notImplemented() {
        #expect(Self.error(receive(.basicQos(BasicQos(prefetchSize: 10, prefetchCount: 1, global: false))))! == (540, "NOT_IMPLEMENTED - prefetch_size!=0 (10)", true))
        #expect(Self.error(receive(.channelFlow(ChannelFlow(active: false))))! == (540, "NOT_IMPLEMENTED - active=false", true))
        #expect(Self.error(receive(.basicRecover(BasicRecover(requeue: false))))! == (540, "NOT_IMPLEMENTED - requeue=false", true))
    }

    @Test("a method a client may not send is 503")
    mutating func unexpected() {
        let error = Self.error(receive(.basicDeliver(BasicDeliver(consumerTag: "c", deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q"))))
        #expect(error?.code == 503 && error?.connection == true)
    }

    @Test("an empty queue name without a declared queue is 404")
    mutating func noPreviousQueue() {
        #expect(Self.error(receive(.queuePurge(QueuePurge(queue: "", noWait: false))))! == (404, "NOT_FOUND - no previously declared queue", false))
        #expect(Self.error(receive(.basicGet(BasicGet(queue: "", noAck: true))))?.code == 404)
    }

    @Test("a queue name with amq. is 403 unless passive")
    mutating func reservedName() {
        #expect(Self.error(receive(.queueDeclare(QueueDeclare(queue: "amq.mine"))))! == (403, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'", false))
    }

    @Test("queue.declare asks the owning worker and holds the channel until it answers")
    mutating func declareGoesToTheOwner() {
        let actions = receive(.queueDeclare(QueueDeclare(queue: "orders", durable: true)))
        let queue = QueueID(vhost: .default, name: QueueName("orders"))
        let sent = Self.requests(actions)
        #expect(sent.count == 1)
        #expect(sent.first?.1 == Placement.partition(of: queue, partitions: 4))
        guard case .declareQueue(let id, let request)? = sent.first?.0 else {
            Issue.record("not a declare")
            return
        }
        #expect(request.queue == queue && request.durable)
        #expect(channel.state.isBusy)
        #expect(requests.answered(id)?.channel == ChannelNumber(1))
    }

    @Test("binding another connection's exclusive queue is 405")
    mutating func exclusiveLocked() throws {
        let queue = QueueID(vhost: .default, name: QueueName("mine"))
        environment.topology.addQueue(QueueRecord(id: queue, partition: PartitionID(0), durable: false,
                                                  exclusiveOwner: ConnectionID(99), autoDelete: false))
        let error = Self.error(receive(.queueBind(QueueBind(queue: "mine", exchange: "amq.fanout"))))
        #expect(error?.code == 405 && error?.text == "RESOURCE_LOCKED - " + TopologyError.lockedDetail(queue))
    }

    @Test("consumer tags may not be reused (530); x-priority must be an integer (406)")
    mutating func consumerChecks() {
        let consume = BasicConsume(queue: "q", consumerTag: "c1", arguments: ["x-priority": .longString(Array("high".utf8))])
        #expect(Self.error(receive(.basicConsume(consume)))?.code == 406)
        channel.consumers["c2"] = RouterChannel.ConsumerRecord(partition: PartitionID(0), noAck: false, queue: QueueName("q"))
        #expect(Self.error(receive(.basicConsume(BasicConsume(queue: "q", consumerTag: "c2"))))! == (530, "NOT_ALLOWED - attempt to reuse consumer tag 'c2'", true))
    }

    @Test("exchange declares: unknown type is 503, a delayed exchange without x-delayed-type 406, a passive miss 404")
    mutating func exchangeDeclares() {
        #expect(Self.error(receive(.exchangeDeclare(ExchangeDeclare(exchange: "x", type: "nonsense"))))! == (503, "COMMAND_INVALID - unknown exchange type 'nonsense'", true))
        #expect(Self.error(receive(.exchangeDeclare(ExchangeDeclare(exchange: "d", type: "x-delayed-message"))))?.code == 406)
        #expect(Self.error(receive(.exchangeDeclare(ExchangeDeclare(exchange: "gone", type: "whatever", passive: true))))! == (404, "NOT_FOUND - no exchange 'gone' in vhost '/'", false))
        guard case .changeTopology(.declareExchange(let definition, passive: false), reply: .exchangeDeclareOk?)? =
                receive(.exchangeDeclare(ExchangeDeclare(exchange: "logs", type: "topic", durable: true))).first else {
            Issue.record("a valid declare changes the topology")
            return
        }
        #expect(definition.type == .topic && definition.durable)
    }

    @Test("a global prefetch is shared among the workers the channel consumes from")
    mutating func globalPrefetch() {
        channel.consumers["c"] = RouterChannel.ConsumerRecord(partition: PartitionID(2), noAck: false, queue: QueueName("q"))
        let actions = receive(.basicQos(BasicQos(prefetchSize: 0, prefetchCount: 10, global: true)))
        #expect(Self.sent(actions) == [.basicQosOk(BasicQosOk())])
        let limits = Self.requests(actions)
        #expect(limits.count == 1)
        #expect(limits.first?.1 == PartitionID(2))
        #expect(limits.first.map { if case .setChannelLimit(_, .some(10)) = $0.0 { true } else { false } } == true)
    }

    @Test("the client's close and close-ok")
    mutating func closes() {
        guard case .closedByClient? = receive(.channelClose(ChannelClose(replyCode: 200, replyText: "", classId: 0, methodId: 0))).first else {
            Issue.record("close not handled")
            return
        }
        #expect(receive(.channelCloseOk(ChannelCloseOk())).isEmpty)
    }
}
