// The channel-level AMQP methods as the router decides them: which are valid, which error
// each misuse gets (RabbitMQ's codes and words), which topology change or worker request each
// makes. The handler carries the actions out; publishes and settles have their own paths
// (per message, without an action array).
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore

extension RouterChannel {
    /// A method (without content) for this open channel.
    public func receive(_ method: AMQPMethod, in env: ChannelEnvironment, requests: inout RequestTable) -> [ChannelAction] {
        switch method {
        case .channelClose:
            return [.closedByClient]
        case .channelCloseOk:
            return []
        case .channelFlow(let flow):
            guard flow.active else { return [.closeConnection(.notImplemented, "NOT_IMPLEMENTED - active=false")] }
            return [.send(.channelFlowOk(ChannelFlowOk(active: true)))]
        case .exchangeDeclare(let declare):
            return exchangeDeclare(declare, in: env)
        case .exchangeDelete(let delete):
            // The default and amq.* exchanges get their own refusal from the topology first.
            if !delete.exchange.isEmpty, !delete.exchange.hasPrefix("amq."),
               let refused = env.refused(.configure, .exchange, delete.exchange) { return [refused] }
            return [.changeTopology(.deleteExchange(ExchangeName(delete.exchange), ifUnused: delete.ifUnused),
                                    reply: delete.noWait ? nil : .exchangeDeleteOk(ExchangeDeleteOk()))]
        case .exchangeBind(let bind):
            if let refused = env.refused(.write, .exchange, bind.destination) ?? env.refused(.read, .exchange, bind.source) {
                return [refused]
            }
            let binding = Binding(source: ExchangeName(bind.source), destination: .exchange(ExchangeName(bind.destination)),
                                  routingKey: bind.routingKey, arguments: bind.arguments)
            return [.changeTopology(.bind(binding), reply: bind.noWait ? nil : .exchangeBindOk(ExchangeBindOk()))]
        case .exchangeUnbind(let unbind):
            if let refused = env.refused(.write, .exchange, unbind.destination) ?? env.refused(.read, .exchange, unbind.source) {
                return [refused]
            }
            let binding = Binding(source: ExchangeName(unbind.source), destination: .exchange(ExchangeName(unbind.destination)),
                                  routingKey: unbind.routingKey, arguments: unbind.arguments)
            return [.changeTopology(.unbind(binding), reply: unbind.noWait ? nil : .exchangeUnbindOk(ExchangeUnbindOk()))]
        case .queueDeclare(let declare):
            return queueDeclare(declare, method: method, in: env, requests: &requests)
        case .queueBind(let bind):
            return queueBinding(bind.queue, exchange: bind.exchange, routingKey: bind.routingKey, arguments: bind.arguments,
                                change: TopologyChange.bind, reply: bind.noWait ? nil : .queueBindOk(QueueBindOk()), in: env)
        case .queueUnbind(let unbind):
            // queue.unbind has no no-wait.
            return queueBinding(unbind.queue, exchange: unbind.exchange, routingKey: unbind.routingKey, arguments: unbind.arguments,
                                change: TopologyChange.unbind, reply: .queueUnbindOk(QueueUnbindOk()), in: env)
        case .queuePurge(let purge):
            guard let queue = resolveQueue(purge.queue, in: env) else { return [noPreviousQueue] }
            if let refused = env.refused(.read, .queue, queue.name.name) { return [refused] }
            return request(.queuePurge(queue.name, noWait: purge.noWait), to: env.partition(of: queue), method: method, requests: &requests) { id in
                .purgeQueue(id, channel: number, queue: queue)
            }
        case .queueDelete(let delete):
            guard let queue = resolveQueue(delete.queue, in: env) else { return [noPreviousQueue] }
            if let refused = env.refused(.configure, .queue, queue.name.name) { return [refused] }
            return request(.queueDelete(queue, noWait: delete.noWait), to: env.partition(of: queue), method: method, requests: &requests) { id in
                .deleteQueue(id, channel: number, queue: queue, ifUnused: delete.ifUnused, ifEmpty: delete.ifEmpty)
            }
        case .basicQos(let qos):
            guard qos.prefetchSize == 0 else {
                return [.closeConnection(.notImplemented, "NOT_IMPLEMENTED - prefetch_size!=0 (\(qos.prefetchSize))")]
            }
            // RabbitMQ's semantics: global=false limits each consumer created from now on;
            // global=true limits the channel as a whole, across every worker it consumes from.
            // As in RabbitMQ 3.10, global=false also lifts a channel-wide limit.
            var actions: [ChannelAction]
            if qos.global {
                actions = setGlobalPrefetch(UInt32(qos.prefetchCount))
            } else {
                prefetchCount = qos.prefetchCount
                actions = setGlobalPrefetch(0)
            }
            actions.append(.send(.basicQosOk(BasicQosOk())))
            return actions
        case .basicConsume(let consume):
            return basicConsume(consume, method: method, in: env, requests: &requests)
        case .basicCancel(let cancel):
            if replyConsumer?.tag == cancel.consumerTag { return [.cancelReplyTo(cancel)] }
            guard let consumer = consumers[cancel.consumerTag] else {
                return cancel.noWait ? [] : [.send(.basicCancelOk(BasicCancelOk(consumerTag: cancel.consumerTag)))]
            }
            return request(.cancel(tag: cancel.consumerTag, noWait: cancel.noWait), to: consumer.partition, method: method,
                           requests: &requests) { id in
                .cancel(id, channel: number, consumerTag: cancel.consumerTag)
            }
        case .basicGet(let get):
            guard let queue = resolveQueue(get.queue, in: env) else { return [noPreviousQueue] }
            if let refused = env.refused(.read, .queue, queue.name.name) { return [refused] }
            let partition = env.partition(of: queue)
            return request(.get(queue.name, partition: partition, noAck: get.noAck), to: partition, method: method, requests: &requests) { id in
                .get(id, channel: number, queue: queue, noAck: get.noAck)
            }
        case .basicRecover(let recover):
            return basicRecover(requeue: recover.requeue, reply: true, method: method, requests: &requests)
        case .basicRecoverAsync(let recover):
            return basicRecover(requeue: recover.requeue, reply: false, method: method, requests: &requests)
        case .confirmSelect(let select):
            guard transaction == nil else { return [fail(.preconditionFailed, "cannot switch from tx to confirm mode")] }
            if confirms == nil { confirms = ConfirmTracker() }
            return select.nowait ? [] : [.send(.confirmSelectOk(ConfirmSelectOk()))]
        case .txSelect:
            guard confirms == nil else { return [fail(.preconditionFailed, "cannot switch from confirm to tx mode")] }
            if transaction == nil { transaction = Transaction() }
            return [.send(.txSelectOk(TxSelectOk()))]
        case .txCommit, .txRollback:
            guard let committed = transaction else { return [fail(.preconditionFailed, "channel is not transactional")] }
            transaction = Transaction()
            if case .txCommit = method { return [.commit(committed)] }
            return [.send(.txRollbackOk(TxRollbackOk()))]
        default:
            return [.closeConnection(.commandInvalid, "COMMAND_INVALID - unexpected method \(method.name) from a client")]
        }
    }

    func fail(_ code: ReplyCode, _ detail: String) -> ChannelAction {
        .fail(code, code.replyText(detail))
    }

    private var noPreviousQueue: ChannelAction { fail(.notFound, "no previously declared queue") }

    /// An empty queue name means the channel's last declared queue (spec, queue.bind etc.).
    private func resolveQueue(_ name: String, in env: ChannelEnvironment) -> QueueID? {
        if !name.isEmpty { return QueueID(vhost: env.vhost, name: QueueName(name)) }
        return lastQueue.map { QueueID(vhost: env.vhost, name: $0) }
    }

    /// A synchronous request to a worker: the channel waits for its answer.
    private func request(_ kind: PendingOperation.Kind, to partition: PartitionID, method: AMQPMethod,
                         requests: inout RequestTable, _ make: (LinkRequestID) -> LinkRequest) -> [ChannelAction] {
        let id = requests.make(channel: number, partition: partition)
        touchedPartitions.insert(partition)
        state.wait(for: PendingOperation(kind: kind, classID: method.classID, methodID: method.methodID))
        return [.request(make(id), to: partition, answerAwaited: true)]
    }

    // MARK: Exchanges and bindings

    private func exchangeDeclare(_ declare: ExchangeDeclare, in env: ChannelEnvironment) -> [ChannelAction] {
        let reply: AMQPMethod? = declare.noWait ? nil : .exchangeDeclareOk(ExchangeDeclareOk())
        let delayed = declare.type == ExchangeType.delayedMessage
        // A delayed exchange routes as its x-delayed-type (RabbitMQ's delayed-message plugin).
        let delayedType = declare.arguments["x-delayed-type"]?.stringValue
        let typeName = delayed ? delayedType ?? "" : declare.type
        guard let type = ExchangeType(rawValue: typeName) else {
            if declare.passive {
                // A passive declare checks existence only; the type is not looked at.
                guard env.topology.exchange(ExchangeName(declare.exchange), in: env.vhost) != nil else {
                    return [fail(.notFound, "no exchange '\(declare.exchange)' in vhost '\(env.vhost.name)'")]
                }
                return reply.map { [.send($0)] } ?? []
            }
            if delayed, delayedType == nil {
                return [fail(.preconditionFailed, "Invalid argument, 'x-delayed-type' must be an existing exchange type")]
            }
            return [.closeConnection(.commandInvalid, "COMMAND_INVALID - unknown exchange type '\(typeName)'")]
        }
        if !declare.passive, !declare.exchange.isEmpty, let refused = exchangeDeclareRefusal(declare, in: env) { return [refused] }
        let definition = ExchangeDefinition(
            name: ExchangeName(declare.exchange), type: type, durable: declare.durable,
            autoDelete: declare.autoDelete, internal: declare.`internal`, arguments: declare.arguments, delayed: delayed)
        return [.changeTopology(.declareExchange(definition, passive: declare.passive), reply: reply)]
    }

    /// As rabbit_channel: configure on the exchange; when it is new and names an alternate
    /// exchange, read on it and write on the alternate.
    private func exchangeDeclareRefusal(_ declare: ExchangeDeclare, in env: ChannelEnvironment) -> ChannelAction? {
        if let refused = env.refused(.configure, .exchange, declare.exchange) { return refused }
        guard env.topology.exchange(ExchangeName(declare.exchange), in: env.vhost) == nil,
              let alternate = declare.arguments["alternate-exchange"]?.stringValue else { return nil }
        return env.refused(.read, .exchange, declare.exchange) ?? env.refused(.write, .exchange, alternate)
    }

    private func queueBinding(_ queueName: String, exchange: String, routingKey: String, arguments: FieldTable,
                              change: (Binding) -> TopologyChange, reply: AMQPMethod?, in env: ChannelEnvironment) -> [ChannelAction] {
        guard let queue = resolveQueue(queueName, in: env) else { return [noPreviousQueue] }
        if let refused = env.refused(.write, .queue, queue.name.name) ?? env.refused(.read, .exchange, exchange) { return [refused] }
        if let record = env.topology.queue(queue), let owner = record.exclusiveOwner, owner != env.connection {
            return [fail(.resourceLocked, TopologyError.lockedDetail(queue))]
        }
        let binding = Binding(source: ExchangeName(exchange), queue: queue.name, routingKey: routingKey, arguments: arguments)
        return [.changeTopology(change(binding), reply: reply)]
    }

    // MARK: Queues

    private func queueDeclare(_ declare: QueueDeclare, method: AMQPMethod, in env: ChannelEnvironment,
                              requests: inout RequestTable) -> [ChannelAction] {
        var name = declare.queue
        if name == ReplyTo.queue || name.hasPrefix(ReplyTo.prefix) { return [.declareReplyTo(declare)] }
        if name.isEmpty {
            if declare.passive, let last = lastQueue {
                name = last.name
            } else {
                name = "amq.gen-" + RandomName.make(length: 22)
            }
        } else if name.hasPrefix("amq."), !declare.passive {
            return [fail(.accessRefused, "queue name '\(name)' contains reserved prefix 'amq.*'")]
        }
        let queue = QueueID(vhost: env.vhost, name: QueueName(name))
        if !declare.passive, let refused = queueDeclareRefusal(queue, arguments: declare.arguments, in: env) { return [refused] }
        let partition = env.partition(of: queue)
        let record = QueueRecord(id: queue, partition: partition, durable: declare.durable,
                                 exclusiveOwner: declare.exclusive ? env.connection : nil, autoDelete: declare.autoDelete)
        var arguments = ByteBuffer()
        arguments.writeFieldTable(declare.arguments)
        return request(.queueDeclare(record, noWait: declare.noWait, passive: declare.passive), to: partition, method: method,
                       requests: &requests) { id in
            .declareQueue(id, QueueDeclareRequest(
                channel: number, queue: queue, passive: declare.passive, durable: declare.durable,
                exclusive: declare.exclusive, autoDelete: declare.autoDelete, arguments: arguments))
        }
    }

    /// As rabbit_channel: configure on the queue; when it is new, the vhost's max-queues, and
    /// when it names a dead-letter exchange, read on the queue and write on that exchange.
    private func queueDeclareRefusal(_ queue: QueueID, arguments: FieldTable, in env: ChannelEnvironment) -> ChannelAction? {
        if let refused = env.refused(.configure, .queue, queue.name.name) { return refused }
        if let refusal = env.topology.queueLimitRefusal(queue) { return .fail(refusal.code, refusal.text) }
        guard env.topology.queue(queue) == nil, let deadLetter = arguments["x-dead-letter-exchange"]?.stringValue else { return nil }
        return env.refused(.read, .queue, queue.name.name) ?? env.refused(.write, .exchange, deadLetter)
    }

    // MARK: Consumers and acknowledgements

    private func basicConsume(_ consume: BasicConsume, method: AMQPMethod, in env: ChannelEnvironment,
                              requests: inout RequestTable) -> [ChannelAction] {
        if consume.queue == ReplyTo.queue { return [.consumeReplyTo(consume)] }
        guard let queue = resolveQueue(consume.queue, in: env) else { return [noPreviousQueue] }
        if let refused = env.refused(.read, .queue, queue.name.name) { return [refused] }
        let tag = consume.consumerTag.isEmpty ? "amq.ctag-" + RandomName.make(length: 22) : consume.consumerTag
        guard consumers[tag] == nil, replyConsumer?.tag != tag else {
            return [.closeConnection(.notAllowed, "NOT_ALLOWED - attempt to reuse consumer tag '\(tag)'")]
        }
        var priority: Int32 = 0
        if let value = consume.arguments["x-priority"] {
            guard let number = value.integerValue else {
                return [fail(.preconditionFailed, "invalid arg 'x-priority' for queue \(queue): \"expected integer, got \(value.typeName)\"")]
            }
            priority = Int32(clamping: number)
        }
        let partition = env.partition(of: queue)
        // The worker learns its share of the channel's prefetch before the consumer exists.
        let actions = shareCredit { $0.join(partition) }
        let record = ConsumerRecord(partition: partition, noAck: consume.noAck, queue: queue.name, exclusive: consume.exclusive,
                                    prefetchCount: prefetchCount, arguments: consume.arguments, priority: priority)
        let number = self.number
        return actions + request(.consume(tag: tag, record, noWait: consume.noWait), to: partition, method: method,
                                 requests: &requests) { id in
            record.request(id, channel: number, tag: tag, vhost: queue.vhost)
        }
    }

    /// basic.qos global=true. 0 removes the channel's limit.
    private func setGlobalPrefetch(_ count: UInt32) -> [ChannelAction] {
        guard count > 0 else {
            guard let credit else { return [] }
            self.credit = nil
            return credit.partitions.map { .request(.setChannelLimit(channel: number, limit: nil), to: $0, answerAwaited: false) }
        }
        var credit = self.credit ?? GlobalCredit(total: count)
        var commands: [GlobalCredit.Command] = []
        if self.credit == nil {
            for partition in Set(consumers.values.map(\.partition)).sorted() { commands += credit.join(partition) }
        } else {
            commands = credit.setTotal(count)
        }
        self.credit = credit
        return creditRequests(commands)
    }

    /// The workers' new shares of the channel-wide prefetch.
    func creditRequests(_ commands: [GlobalCredit.Command]) -> [ChannelAction] {
        commands.map { command in
            touchedPartitions.insert(command.partition)
            return .request(.setChannelLimit(channel: number, limit: command.limit), to: command.partition, answerAwaited: false)
        }
    }

    private func basicRecover(requeue: Bool, reply: Bool, method: AMQPMethod, requests: inout RequestTable) -> [ChannelAction] {
        guard requeue else { return [.closeConnection(.notImplemented, "NOT_IMPLEMENTED - requeue=false")] }
        // Workers requeue everything unacked on the channel; the old client tags are void.
        tags.forgetAll()
        let partitions = touchedPartitions.sorted()
        guard reply else {
            return partitions.map { partition in
                let id = requests.make(channel: number, partition: partition)
                requests.forget(id)  // no answer awaited
                return .request(.recover(id, channel: number, requeue: true), to: partition, answerAwaited: false)
            }
        }
        guard !partitions.isEmpty else { return [.send(.basicRecoverOk(BasicRecoverOk()))] }
        state.wait(for: PendingOperation(kind: .recover(remaining: partitions.count), classID: method.classID, methodID: method.methodID))
        return partitions.map { partition in
            let id = requests.make(channel: number, partition: partition)
            return .request(.recover(id, channel: number, requeue: true), to: partition, answerAwaited: true)
        }
    }

    /// basic.ack, nack or reject. Outside a transaction the result says which workers settle
    /// what; inside one the settle is checked now and kept for tx.commit (RabbitMQ refuses an
    /// unknown tag at once).
    public func settle(_ tag: UInt64, multiple: Bool, outcome: SettleOutcome) -> SettleResult {
        if transaction != nil {
            guard tag == 0 && multiple || tags.isOutstanding(ClientDeliveryTag(tag)) else { return .unknownTag }
            transaction!.settles.append((tag, multiple, outcome))
            return .heldForCommit
        }
        return settleCommitted(tag, multiple: multiple)
    }

    /// A settle applied now: outside a transaction, or a committed transaction's.
    public func settleCommitted(_ tag: UInt64, multiple: Bool) -> SettleResult {
        do {
            if !multiple {
                // An orphan's settle goes to no worker.
                guard let settle = try tags.settleOne(ClientDeliveryTag(tag)) else { return .many([]) }
                return .one(settle)
            }
            return .many(try tags.settle(ClientDeliveryTag(tag), multiple: multiple))
        } catch {
            return .unknownTag
        }
    }
}

/// Which workers a client's settle goes to.
public enum SettleResult {
    case one(WorkerSettle)
    case many([WorkerSettle])
    case heldForCommit
    /// 406 PRECONDITION_FAILED "unknown delivery tag N".
    case unknownTag
}

/// RabbitMQ's direct reply-to pseudo-queue.
public enum ReplyTo {
    public static let queue = "amq.rabbitmq.reply-to"
    public static let prefix = "amq.rabbitmq.reply-to."
}
