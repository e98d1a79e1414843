// basic.publish: route through the current topology snapshot (no lock), group the target
// queues by owning worker, forward once per worker, and track confirms.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore

extension AMQPConnectionHandler {
    func publish(_ publish: BasicPublish, header: ContentHeader, body: ByteBuffer, on channel: RouterChannel) {
        if publish.immediate {
            return closeConnection(.notImplemented, "NOT_IMPLEMENTED - immediate=true", classID: 60, methodID: 40)
        }
        if body.readableBytes > context.maxMessageSize {
            return fail(channel, .preconditionFailed, "message size \(body.readableBytes) is larger than configured max size \(context.maxMessageSize)",
                        method: .basicPublish(publish))
        }
        blockIfAlarmed()
        services.stats.published &+= 1
        if channel.transaction != nil {
            // Refused now, as RabbitMQ does, not at tx.commit after the earlier ones went out.
            if let refusal = writeRefusal(publish, context.topology.currentSnapshot) {
                return closeChannel(channel, refusal.code, refusal.text, classID: 60, methodID: 40)
            }
            channel.transaction!.publishes.append((publish, header, body))
            return
        }
        route(publish, header: header, body: body, on: channel)
    }

    /// Routes and forwards one publish (outside a transaction, or at tx.commit). False when a
    /// worker it had to reach is down (its confirm is nacked; a transaction fails).
    @discardableResult
    func route(_ publish: BasicPublish, header: ContentHeader, body: ByteBuffer, on channel: RouterChannel) -> Bool {
        let snapshot = context.topology.currentSnapshot
        let topology = snapshot.topology
        if let refusal = writeRefusal(publish, snapshot) { return rejectRoute(channel, refusal.code, refusal.text) }
        let expiration: UInt64?
        switch MessageExpiration.milliseconds(in: header) {
        case .success(let value): expiration = value
        case .failure(let error): return rejectRoute(channel, error.code, error.text)
        }
        var header = header
        switch rewriteReplyTo(header, on: channel) {
        case .success(let rewritten): header = rewritten
        case .failure(let error): return rejectRoute(channel, error.code, error.text)
        }
        let exchange = ExchangeName(publish.exchange)
        if exchange == .default, publish.routingKey.utf8.starts(with: ReplyTo.prefix.utf8) {
            let routed = publishReply(routingKey: publish.routingKey, properties: header.rawProperties, body: body)
            finishUnqueued(publish, header: header, body: body, routed: routed, on: channel)
            return true
        }
        if topology.hasDelayedExchanges, topology.exchange(exchange, in: vhost)?.delayed == true,
           let delay = DelayHeader.delay(in: header.rawProperties) {
            return delayPublish(publish, header: header, body: body, delay: delay, on: channel)
        }
        var queues: [QueueRecord]
        do {
            if let cached = lastRoute.queues(snapshot: snapshot, exchange: publish.exchange, routingKey: publish.routingKey) {
                queues = cached
            } else {
                // Headers are decoded only when a headers exchange is on the message's way;
                // a route that read them depends on the message and is not kept.
                var readHeaders = false
                queues = try topology.route(exchange: exchange, routingKey: publish.routingKey, headers: {
                    readHeaders = true
                    return (try? header.decodeProperties())?.headers ?? FieldTable()
                }, in: vhost)
                lastRoute = readHeaders ? LastRoute()
                    : LastRoute(snapshot: snapshot, exchange: publish.exchange, routingKey: publish.routingKey, queues: queues)
            }
            if SenderSelected.isPresent(in: header.rawProperties), var properties = try? header.decodeProperties() {
                for key in try SenderSelected.routingKeys(removingBCCFrom: &properties) {
                    let more = try topology.route(exchange: exchange, routingKey: key, headers: { properties.headers }, in: vhost)
                    for queue in more where !queues.contains(where: { $0.id == queue.id }) { queues.append(queue) }
                }
                header = ContentHeader(bodySize: header.bodySize, properties: properties)
            }
        } catch {
            return rejectRoute(channel, error.code, error.text)
        }
        guard !queues.isEmpty else {
            finishUnqueued(publish, header: header, body: body, routed: false, on: channel)
            return true
        }
        services.stats.routed &+= 1
        let sequence = channel.confirms?.nextSequence() ?? 0

        let message = LinkMessage(exchange: publish.exchange, routingKey: publish.routingKey,
                                  properties: header.rawProperties, body: body)
        let forwarded: Bool
        if queues.count == 1 {
            // The common case: one queue on one worker, without grouping or a set.
            let queue = queues[0]
            if sequence != 0 { channel.confirms?.published(sequence, partition: queue.partition) }
            forwarded = forward(message, to: QueueNames(queue.id.name), on: queue.partition, sequence: sequence,
                                expiration: expiration, channel: channel)
        } else {
            var allForwarded = true
            let partitions = Set(queues.map(\.partition))
            if sequence != 0 { channel.confirms?.published(sequence, partitions: partitions) }
            for partition in partitions {
                let names = queues.filter { $0.partition == partition }.map(\.id.name)
                allForwarded = forward(message, to: QueueNames(names), on: partition, sequence: sequence, expiration: expiration,
                                       channel: channel) && allForwarded
            }
            forwarded = allForwarded
        }
        if sequence != 0 { emitConfirms(channel) }
        return forwarded
    }

    /// The 403 when the user may not write to the publish's exchange (a compare per message
    /// while the exchange and the snapshot stay the same).
    private func writeRefusal(_ publish: BasicPublish, _ snapshot: TopologySnapshot) -> TopologyError? {
        publishPermission.refusal(exchange: publish.exchange, snapshot: snapshot, topology: snapshot.topology,
                                  user: connection.user, vhost: vhost)
    }

    /// A publish that cannot be routed as it is: its channel closes with the error.
    private func rejectRoute(_ channel: RouterChannel, _ code: ReplyCode, _ text: String) -> Bool {
        closeChannel(channel, code, text, classID: 60, methodID: 40)
        return true
    }

    /// A publish that no worker queues: a direct reply (routed), or unroutable (returned
    /// when mandatory). Confirmed at once.
    private func finishUnqueued(_ publish: BasicPublish, header: ContentHeader, body: ByteBuffer, routed: Bool,
                                on channel: RouterChannel) {
        if routed {
            services.stats.routed &+= 1
        } else {
            services.stats.unroutable &+= 1
            if publish.mandatory { sendReturn(publish, header: header, body: body, on: channel) }
        }
        if let sequence = channel.confirms?.nextSequence() {
            channel.confirms?.published(sequence, partitions: [])
            emitConfirms(channel)
        }
    }

    /// A publish to an x-delayed-message exchange with a positive x-delay: held by the worker
    /// the exchange's name hashes to, and routed when due. Confirmed once that worker has it.
    /// As with RabbitMQ's plugin, a mandatory one is also returned at once (nothing routes it
    /// now) and still delivered later.
    private func delayPublish(_ publish: BasicPublish, header: ContentHeader, body: ByteBuffer, delay: UInt64,
                              on channel: RouterChannel) -> Bool {
        services.stats.routed &+= 1
        if publish.mandatory { sendReturn(publish, header: header, body: body, on: channel) }
        let partition = context.partition(of: QueueID(vhost: vhost, name: QueueName(publish.exchange)))
        let sequence = channel.confirms?.nextSequence() ?? 0
        if sequence != 0 { channel.confirms?.published(sequence, partition: partition) }
        let message = LinkMessage(exchange: publish.exchange, routingKey: publish.routingKey,
                                  properties: header.rawProperties, body: body)
        let request = LinkRequest.delay(DelayRequest(channel: channel.number, confirmSequence: sequence, vhost: vhost,
                                                     delay: delay, message: message))
        let sent = send(request, to: partition)
        if !sent, sequence != 0 { channel.confirms?.rejected(sequence, by: partition) }
        if sequence != 0 { emitConfirms(channel) }
        return sent
    }

    /// basic.return 312 NO_ROUTE of a mandatory publish, with its content.
    private func sendReturn(_ publish: BasicPublish, header: ContentHeader, body: ByteBuffer, on channel: RouterChannel) {
        services.stats.returned &+= 1
        sendContent(channel.number.value, .basicReturn(BasicReturn(
            replyCode: ReplyCode.noRoute.rawValue, replyText: "NO_ROUTE",
            exchange: publish.exchange, routingKey: publish.routingKey)),
            properties: header.rawProperties, body: body)
    }

    /// One publish request per worker; a worker that cannot be reached nacks a confirm (false).
    private func forward(_ message: LinkMessage, to queues: QueueNames, on partition: PartitionID, sequence: UInt64,
                         expiration: UInt64?, channel: RouterChannel) -> Bool {
        let request = LinkRequest.publish(PublishRequest(
            channel: channel.number, confirmSequence: sequence, vhost: vhost, queues: queues, message: message,
            expiration: expiration))
        guard !send(request, to: partition) else { return true }
        if sequence != 0 { channel.confirms?.rejected(sequence, by: partition) }
        return false
    }

    /// A worker's answers made confirms due on `channel`: they go out at the flush, so that
    /// the answers of one read (often hundreds) become one `basic.ack multiple=true`, as
    /// RabbitMQ coalesces them, instead of a frame each.
    func confirmsDue(on channel: RouterChannel) {
        guard !channel.confirmsDue else { return }
        channel.confirmsDue = true
        channelsWithConfirmsDue.append(channel)
        scheduleFlush()
    }

    func emitDueConfirms() {
        guard !channelsWithConfirmsDue.isEmpty else { return }
        for channel in channelsWithConfirmsDue {
            channel.confirmsDue = false
            if channel.state.isOpen { emitConfirms(channel) }
        }
        channelsWithConfirmsDue.removeAll(keepingCapacity: true)
    }

    /// Sends the confirms that became due, coalesced by the tracker.
    func emitConfirms(_ channel: RouterChannel) {
        // Counts read as integers: holding a copy of the tracker would make the drain copy it.
        let ackedBefore = channel.confirms?.ackedCount ?? 0, nackedBefore = channel.confirms?.nackedCount ?? 0
        guard let actions = channel.confirms?.drainActions(), !actions.isEmpty else { return }
        services.stats.confirmed &+= (channel.confirms?.ackedCount ?? 0) &- ackedBefore
        services.stats.confirmNacked &+= (channel.confirms?.nackedCount ?? 0) &- nackedBefore
        for action in actions {
            switch action {
            case .ack(let tag, let multiple):
                sendMethod(channel.number.value, .basicAck(BasicAck(deliveryTag: tag, multiple: multiple)))
            case .nack(let tag, let multiple):
                sendMethod(channel.number.value, .basicNack(BasicNack(deliveryTag: tag, multiple: multiple, requeue: false)))
            }
        }
    }
}
