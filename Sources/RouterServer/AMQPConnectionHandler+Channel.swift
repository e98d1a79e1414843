// The channel-level AMQP methods: channel lifecycle, exchanges, queues, consumers,
// acknowledgements and publishing. Queue operations go to the owning worker; topology
// operations change the router's snapshot.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore

extension AMQPConnectionHandler {
    /// A channel exception: channel.close to the client; workers requeue what it held.
    func closeChannel(_ channel: RouterChannel, _ code: ReplyCode, _ text: String, classID: UInt16, methodID: UInt16) {
        guard let close = channel.state.fail(code, text, classID: classID, methodID: methodID) else { return }
        logger.info("closing channel with error", metadata: ["channel": "\(channel.number.value)", "code": "\(code.rawValue)", "text": "\(text)"])
        sendMethod(channel.number.value, .channelClose(close))
        releaseChannel(channel)
    }

    /// A channel exception with RabbitMQ's "CODE_NAME - detail" reply text.
    func fail(_ channel: RouterChannel, _ code: ReplyCode, _ detail: String, method: AMQPMethod) {
        closeChannel(channel, code, code.replyText(detail), classID: method.classID, methodID: method.methodID)
    }

    func closeChannel(_ channel: RouterChannel, _ error: TopologyError, method: AMQPMethod) {
        closeChannel(channel, error.code, error.text, classID: method.classID, methodID: method.methodID)
    }

    private func releaseChannel(_ channel: RouterChannel) {
        for partition in channel.touchedPartitions {
            _ = send(.closeChannel(channel: channel.number), to: partition)
        }
        unregisterReplyConsumer(channel)
        channel.release()
    }

    func handleChannelCommand(_ command: Command, on channel: RouterChannel) {
        let number = channel.number.value
        switch command {
        case .content(_, .basicPublish(let publish), let header, let body):
            self.publish(publish, header: header, body: body, on: channel)
        case .content(_, let method, _, _):
            closeConnection(.commandInvalid, "COMMAND_INVALID - \(method.name) may not carry content from a client", method: method)
        case .heartbeat:
            break
        case .method(_, let method):
            handleChannelMethod(method, on: channel, number: number)
        }
    }

    private func handleChannelMethod(_ method: AMQPMethod, on channel: RouterChannel, number: UInt16) {
        switch method {
        case .channelClose:
            releaseChannel(channel)
            channel.state.closedByClient()
            channels[number] = nil
            sendMethod(number, .channelCloseOk(ChannelCloseOk()))
        case .channelCloseOk:
            break
        case .channelFlow(let flow):
            guard flow.active else {
                return closeConnection(.notImplemented, "NOT_IMPLEMENTED - active=false", method: method)
            }
            sendMethod(number, .channelFlowOk(ChannelFlowOk(active: true)))
        case .exchangeDeclare(let declare):
            exchangeDeclare(declare, method: method, on: channel)
        case .exchangeDelete(let delete):
            do {
                try context.topology.update { (t: inout Topology) throws(TopologyError) in
                    try t.deleteExchange(ExchangeName(delete.exchange), ifUnused: delete.ifUnused, in: vhost)
                }
                if !delete.noWait { replyOnceSaved(.exchangeDeleteOk(ExchangeDeleteOk()), on: channel, method: method) }
            } catch {
                closeChannel(channel, error, method: method)
            }
        case .queueDeclare(let declare):
            queueDeclare(declare, method: method, on: channel)
        case .queueBind(let bind):
            queueBinding(queueName: bind.queue, exchange: bind.exchange, routingKey: bind.routingKey,
                         arguments: bind.arguments, bind: true, method: method, on: channel)
            if channel.state.isOpen, !bind.noWait { replyOnceSaved(.queueBindOk(QueueBindOk()), on: channel, method: method) }
        case .queueUnbind(let unbind):
            queueBinding(queueName: unbind.queue, exchange: unbind.exchange, routingKey: unbind.routingKey,
                         arguments: unbind.arguments, bind: false, method: method, on: channel)
            if channel.state.isOpen { replyOnceSaved(.queueUnbindOk(QueueUnbindOk()), on: channel, method: method) }
        case .queuePurge(let purge):
            guard let queue = resolveQueue(purge.queue, method: method, on: channel) else { return }
            request(on: channel, to: context.partition(of: queue), method: method, .queuePurge(noWait: purge.noWait)) { id in
                .purgeQueue(id, channel: channel.number, queue: queue)
            }
        case .queueDelete(let delete):
            guard let queue = resolveQueue(delete.queue, method: method, on: channel) else { return }
            request(on: channel, to: context.partition(of: queue), method: method, .queueDelete(queue, noWait: delete.noWait)) { id in
                .deleteQueue(id, channel: channel.number, queue: queue, ifUnused: delete.ifUnused, ifEmpty: delete.ifEmpty)
            }
        case .basicQos(let qos):
            guard qos.prefetchSize == 0 else {
                return closeConnection(.notImplemented, "NOT_IMPLEMENTED - prefetch_size!=0 (\(qos.prefetchSize))", method: method)
            }
            // RabbitMQ's semantics: global=false limits each consumer created from now on;
            // global=true limits the channel as a whole, across every worker it consumes from.
            // As in RabbitMQ 3.10, global=false also lifts a channel-wide limit.
            if qos.global {
                setGlobalPrefetch(UInt32(qos.prefetchCount), on: channel)
            } else {
                channel.prefetchCount = qos.prefetchCount
                setGlobalPrefetch(0, on: channel)
            }
            sendMethod(number, .basicQosOk(BasicQosOk()))
        case .basicConsume(let consume):
            basicConsume(consume, method: method, on: channel)
        case .basicCancel(let cancel):
            if channel.replyConsumer?.tag == cancel.consumerTag {
                unregisterReplyConsumer(channel)
                if !cancel.noWait { sendMethod(number, .basicCancelOk(BasicCancelOk(consumerTag: cancel.consumerTag))) }
                return
            }
            guard let consumer = channel.consumers[cancel.consumerTag] else {
                if !cancel.noWait { sendMethod(number, .basicCancelOk(BasicCancelOk(consumerTag: cancel.consumerTag))) }
                return
            }
            request(on: channel, to: consumer.partition, method: method, .cancel(tag: cancel.consumerTag, noWait: cancel.noWait)) { id in
                .cancel(id, channel: channel.number, consumerTag: cancel.consumerTag)
            }
        case .basicGet(let get):
            guard let queue = resolveQueue(get.queue, method: method, on: channel) else { return }
            let partition = context.partition(of: queue)
            request(on: channel, to: partition, method: method, .get(partition: partition, noAck: get.noAck)) { id in
                .get(id, channel: channel.number, queue: queue, noAck: get.noAck)
            }
        case .basicAck(let ack):
            settle(ack.deliveryTag, multiple: ack.multiple, outcome: .ack, method: method, on: channel)
        case .basicReject(let reject):
            settle(reject.deliveryTag, multiple: false, outcome: reject.requeue ? .requeue : .discard, method: method, on: channel)
        case .basicNack(let nack):
            settle(nack.deliveryTag, multiple: nack.multiple, outcome: nack.requeue ? .requeue : .discard, method: method, on: channel)
        case .basicRecover(let recover):
            basicRecover(requeue: recover.requeue, reply: true, method: method, on: channel)
        case .basicRecoverAsync(let recover):
            basicRecover(requeue: recover.requeue, reply: false, method: method, on: channel)
        case .confirmSelect(let select):
            guard channel.transaction == nil else {
                return fail(channel, .preconditionFailed, "cannot switch from tx to confirm mode", method: method)
            }
            if channel.confirms == nil { channel.confirms = ConfirmTracker() }
            if !select.nowait { sendMethod(number, .confirmSelectOk(ConfirmSelectOk())) }
        case .exchangeBind(let bind):
            exchangeBinding(Binding(source: ExchangeName(bind.source), destination: .exchange(ExchangeName(bind.destination)),
                                    routingKey: bind.routingKey, arguments: bind.arguments), bind: true, method: method, on: channel)
            if channel.state.isOpen, !bind.noWait { replyOnceSaved(.exchangeBindOk(ExchangeBindOk()), on: channel, method: method) }
        case .exchangeUnbind(let unbind):
            exchangeBinding(Binding(source: ExchangeName(unbind.source), destination: .exchange(ExchangeName(unbind.destination)),
                                    routingKey: unbind.routingKey, arguments: unbind.arguments), bind: false, method: method, on: channel)
            if channel.state.isOpen, !unbind.noWait { replyOnceSaved(.exchangeUnbindOk(ExchangeUnbindOk()), on: channel, method: method) }
        case .txSelect:
            guard channel.confirms == nil else {
                return fail(channel, .preconditionFailed, "cannot switch from confirm to tx mode", method: method)
            }
            if channel.transaction == nil { channel.transaction = RouterChannel.Transaction() }
            sendMethod(number, .txSelectOk(TxSelectOk()))
        case .txCommit, .txRollback:
            guard let transaction = channel.transaction else {
                return fail(channel, .preconditionFailed, "channel is not transactional", method: method)
            }
            channel.transaction = RouterChannel.Transaction()
            if case .txCommit = method {
                commit(transaction, method: method, on: channel)
                if channel.state.isOpen { sendMethod(number, .txCommitOk(TxCommitOk())) }
            } else {
                sendMethod(number, .txRollbackOk(TxRollbackOk()))
            }
        default:
            closeConnection(.commandInvalid, "COMMAND_INVALID - unexpected method \(method.name) from a client", method: method)
        }
    }

    // MARK: Exchanges and bindings

    private func exchangeDeclare(_ declare: ExchangeDeclare, method: AMQPMethod, on channel: RouterChannel) {
        let delayed = declare.type == ExchangeType.delayedMessage
        // A delayed exchange routes as its x-delayed-type (RabbitMQ's delayed-message plugin).
        let delayedType = declare.arguments["x-delayed-type"]?.stringValue
        let typeName = delayed ? delayedType ?? "" : declare.type
        guard let type = ExchangeType(rawValue: typeName) else {
            if declare.passive {
                // A passive declare checks existence only; the type is not looked at.
                return passiveExchangeCheck(declare, method: method, on: channel)
            }
            if delayed, delayedType == nil {
                return fail(channel, .preconditionFailed, "Invalid argument, 'x-delayed-type' must be an existing exchange type", method: method)
            }
            return closeConnection(.commandInvalid, "COMMAND_INVALID - unknown exchange type '\(typeName)'", method: method)
        }
        let definition = ExchangeDefinition(
            name: ExchangeName(declare.exchange), type: type, durable: declare.durable,
            autoDelete: declare.autoDelete, internal: declare.`internal`, arguments: declare.arguments, delayed: delayed)
        do {
            try context.topology.update { (t: inout Topology) throws(TopologyError) in
                try t.declareExchange(definition, passive: declare.passive, in: vhost)
            }
            if !declare.noWait { replyOnceSaved(.exchangeDeclareOk(ExchangeDeclareOk()), on: channel, method: method) }
        } catch {
            closeChannel(channel, error, method: method)
        }
    }

    private func passiveExchangeCheck(_ declare: ExchangeDeclare, method: AMQPMethod, on channel: RouterChannel) {
        if context.topology.snapshot.exchange(ExchangeName(declare.exchange), in: vhost) != nil {
            if !declare.noWait { sendMethod(channel.number.value, .exchangeDeclareOk(ExchangeDeclareOk())) }
        } else {
            fail(channel, .notFound, "no exchange '\(declare.exchange)' in vhost '\(vhost.name)'", method: method)
        }
    }

    private func queueBinding(queueName: String, exchange: String, routingKey: String, arguments: FieldTable,
                              bind: Bool, method: AMQPMethod, on channel: RouterChannel) {
        guard let queue = resolveQueue(queueName, method: method, on: channel) else { return }
        if let record = context.topology.snapshot.queue(queue), let owner = record.exclusiveOwner, owner != id {
            return fail(channel, .resourceLocked, TopologyError.lockedDetail(queue), method: method)
        }
        let binding = Binding(source: ExchangeName(exchange), queue: queue.name, routingKey: routingKey, arguments: arguments)
        do {
            try context.topology.update { (t: inout Topology) throws(TopologyError) in
                if bind { try t.bind(binding, in: vhost) } else { try t.unbind(binding, in: vhost) }
            }
        } catch {
            closeChannel(channel, error, method: method)
        }
    }

    private func exchangeBinding(_ binding: Binding, bind: Bool, method: AMQPMethod, on channel: RouterChannel) {
        do {
            try context.topology.update { (t: inout Topology) throws(TopologyError) in
                if bind { try t.bind(binding, in: vhost) } else { try t.unbind(binding, in: vhost) }
            }
        } catch {
            closeChannel(channel, error, method: method)
        }
    }

    /// tx.commit: the channel's publishes and acknowledgements, in the order they were made.
    /// Each worker applies its share in order; there is no atomicity across workers (as with
    /// RabbitMQ across queues: a transaction is not atomic across queues either).
    private func commit(_ transaction: RouterChannel.Transaction, method: AMQPMethod, on channel: RouterChannel) {
        for settle in transaction.settles where channel.state.isOpen {
            applySettle(settle.tag, multiple: settle.multiple, outcome: settle.outcome, method: method, on: channel)
        }
        for publish in transaction.publishes where channel.state.isOpen {
            route(publish.method, header: publish.header, body: publish.body, on: channel)
        }
    }

    // MARK: Queues

    /// An empty queue name means the channel's last declared queue (spec, queue.bind etc.).
    private func resolveQueue(_ name: String, method: AMQPMethod, on channel: RouterChannel) -> QueueID? {
        if !name.isEmpty { return QueueID(vhost: vhost, name: QueueName(name)) }
        if let last = channel.lastQueue { return QueueID(vhost: vhost, name: last) }
        fail(channel, .notFound, "no previously declared queue", method: method)
        return nil
    }

    private func queueDeclare(_ declare: QueueDeclare, method: AMQPMethod, on channel: RouterChannel) {
        var name = declare.queue
        if name == Self.replyToQueue || name.hasPrefix(Self.replyToPrefix) {
            return declareReplyTo(declare, method: method, on: channel)
        }
        if name.isEmpty {
            if declare.passive, let last = channel.lastQueue {
                name = last.name
            } else {
                name = "amq.gen-" + RandomName.make(length: 22)
            }
        } else if name.hasPrefix("amq."), !declare.passive {
            return fail(channel, .accessRefused, "queue name '\(name)' contains reserved prefix 'amq.*'", method: method)
        }
        let queue = QueueID(vhost: vhost, name: QueueName(name))
        let partition = context.partition(of: queue)
        let record = QueueRecord(id: queue, partition: partition, durable: declare.durable,
                                 exclusiveOwner: declare.exclusive ? id : nil, autoDelete: declare.autoDelete)
        var arguments = ByteBuffer()
        arguments.writeFieldTable(declare.arguments)
        request(on: channel, to: partition, method: method, .queueDeclare(record, noWait: declare.noWait, passive: declare.passive)) { requestID in
            .declareQueue(requestID, QueueDeclareRequest(
                channel: channel.number, queue: queue, passive: declare.passive, durable: declare.durable,
                exclusive: declare.exclusive, autoDelete: declare.autoDelete, arguments: arguments))
        }
    }

    // MARK: Consumers and acknowledgements

    private func basicConsume(_ consume: BasicConsume, method: AMQPMethod, on channel: RouterChannel) {
        if consume.queue == Self.replyToQueue { return consumeReplyTo(consume, method: method, on: channel) }
        guard let queue = resolveQueue(consume.queue, method: method, on: channel) else { return }
        let tag = consume.consumerTag.isEmpty ? "amq.ctag-" + RandomName.make(length: 22) : consume.consumerTag
        guard channel.consumers[tag] == nil, channel.replyConsumer?.tag != tag else {
            return closeConnection(.notAllowed, "NOT_ALLOWED - attempt to reuse consumer tag '\(tag)'", method: method)
        }
        var priority: Int32 = 0
        if let value = consume.arguments["x-priority"] {
            guard let number = value.integerValue else {
                return fail(channel, .preconditionFailed, "invalid arg 'x-priority' for queue \(queue): \"expected integer, got \(value.typeName)\"", method: method)
            }
            priority = Int32(clamping: number)
        }
        let partition = context.partition(of: queue)
        if var credit = channel.credit {
            // The worker learns its share of the channel's prefetch before the consumer exists.
            let commands = credit.join(partition)
            channel.credit = credit
            sendCredit(commands, on: channel)
        }
        let prefetch = channel.prefetchCount
        let record = RouterChannel.ConsumerRecord(partition: partition, noAck: consume.noAck, queue: queue.name,
                                                  exclusive: consume.exclusive, prefetchCount: prefetch,
                                                  arguments: consume.arguments)
        request(on: channel, to: partition, method: method, .consume(tag: tag, record, noWait: consume.noWait)) { id in
            .consume(id, ConsumeRequest(channel: channel.number, queue: queue, consumerTag: tag, noAck: consume.noAck,
                                        exclusive: consume.exclusive, prefetchCount: prefetch, priority: priority))
        }
    }

    /// basic.qos global=true. 0 removes the channel's limit.
    private func setGlobalPrefetch(_ count: UInt32, on channel: RouterChannel) {
        guard count > 0 else {
            guard let credit = channel.credit else { return }
            channel.credit = nil
            for partition in credit.partitions { _ = send(.setChannelLimit(channel: channel.number, limit: nil), to: partition) }
            return
        }
        var credit = channel.credit ?? GlobalCredit(total: count)
        var commands: [GlobalCredit.Command] = []
        if channel.credit == nil {
            for partition in Set(channel.consumers.values.map(\.partition)).sorted() { commands += credit.join(partition) }
        } else {
            commands = credit.setTotal(count)
        }
        channel.credit = credit
        sendCredit(commands, on: channel)
    }

    func sendCredit(_ commands: [GlobalCredit.Command], on channel: RouterChannel) {
        for command in commands {
            channel.touchedPartitions.insert(command.partition)
            _ = send(.setChannelLimit(channel: channel.number, limit: command.limit), to: command.partition)
        }
    }

    /// A consumer of the channel on `partition` is gone; with the last one there, the
    /// worker's share of a global prefetch returns.
    func consumerRemoved(from partition: PartitionID, on channel: RouterChannel) {
        guard var credit = channel.credit, !channel.hasConsumers(on: partition) else { return }
        let commands = credit.leave(partition)
        channel.credit = credit
        sendCredit(commands, on: channel)
    }

    private func settle(_ tag: UInt64, multiple: Bool, outcome: SettleOutcome, method: AMQPMethod, on channel: RouterChannel) {
        guard channel.transaction == nil else {
            // Checked now, applied at commit (RabbitMQ refuses an unknown tag at once).
            guard tag == 0 && multiple || channel.tags.isOutstanding(ClientDeliveryTag(tag)) else {
                return fail(channel, .preconditionFailed, "unknown delivery tag \(tag)", method: method)
            }
            channel.transaction!.settles.append((tag, multiple, outcome))
            return
        }
        applySettle(tag, multiple: multiple, outcome: outcome, method: method, on: channel)
    }

    private func applySettle(_ tag: UInt64, multiple: Bool, outcome: SettleOutcome, method: AMQPMethod, on channel: RouterChannel) {
        do {
            if !multiple {
                let settle = try channel.tags.settleOne(ClientDeliveryTag(tag))
                _ = send(.settle(channel: channel.number, tag: settle.tag, multiple: false, outcome: outcome), to: settle.partition)
                return
            }
            for settle in try channel.tags.settle(ClientDeliveryTag(tag), multiple: multiple) {
                _ = send(.settle(channel: channel.number, tag: settle.tag, multiple: settle.multiple, outcome: outcome), to: settle.partition)
            }
        } catch {
            fail(channel, .preconditionFailed, "unknown delivery tag \(tag)", method: method)
        }
    }

    private func basicRecover(requeue: Bool, reply: Bool, method: AMQPMethod, on channel: RouterChannel) {
        guard requeue else {
            return closeConnection(.notImplemented, "NOT_IMPLEMENTED - requeue=false", method: method)
        }
        // Workers requeue everything unacked on the channel; the old client tags are void.
        channel.tags.forgetAll()
        let partitions = channel.touchedPartitions
        guard reply else {
            for partition in partitions {
                let requestID = makeRequestID(channel: channel.number, partition: partition)
                requestChannels[requestID] = nil  // no answer awaited
                _ = send(.recover(requestID, channel: channel.number, requeue: true), to: partition)
            }
            return
        }
        guard !partitions.isEmpty else {
            return sendMethod(channel.number.value, .basicRecoverOk(BasicRecoverOk()))
        }
        channel.state.wait(for: PendingOperation(kind: .recover(remaining: partitions.count), classID: method.classID, methodID: method.methodID))
        for partition in partitions {
            let requestID = makeRequestID(channel: channel.number, partition: partition)
            _ = send(.recover(requestID, channel: channel.number, requeue: true), to: partition)
        }
    }

    /// Sends a synchronous request to a worker; the channel waits for its answer.
    private func request(on channel: RouterChannel, to partition: PartitionID, method: AMQPMethod,
                         _ kind: PendingOperation.Kind, _ make: (LinkRequestID) -> LinkRequest) {
        let requestID = makeRequestID(channel: channel.number, partition: partition)
        guard send(make(requestID), to: partition) else {
            requestChannels[requestID] = nil
            return closeConnection(.internalError, "INTERNAL_ERROR - partition \(partition.index) is unavailable", method: method)
        }
        channel.touchedPartitions.insert(partition)
        channel.state.wait(for: PendingOperation(kind: kind, classID: method.classID, methodID: method.methodID))
    }
}

extension AMQPConnectionHandler {
    /// Sends `reply` to a topology change once the change is on disk (at once when it touched
    /// nothing durable); the channel's later commands wait meanwhile, as for a worker's answer.
    func replyOnceSaved(_ reply: AMQPMethod, on channel: RouterChannel, classID: UInt16, methodID: UInt16) {
        guard let saved = context.topology.whenSaved(on: services.eventLoop) else {
            return sendMethod(channel.number.value, reply)
        }
        channel.state.wait(for: PendingOperation(kind: .topologySaved(reply: reply), classID: classID, methodID: methodID))
        saved.whenSuccess { [weak self] in self?.topologySaved(channel) }
    }

    func replyOnceSaved(_ reply: AMQPMethod, on channel: RouterChannel, method: AMQPMethod) {
        replyOnceSaved(reply, on: channel, classID: method.classID, methodID: method.methodID)
    }

    private func topologySaved(_ channel: RouterChannel) {
        guard case .topologySaved(let reply)? = channel.state.answered()?.kind else { return }
        sendMethod(channel.number.value, reply)
        resume(channel)
    }
}
