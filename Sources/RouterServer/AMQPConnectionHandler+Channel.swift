// A channel's commands: publishes and settles take their own per-message paths; every other
// method is decided by RouterCore (`RouterChannel.receive`) and its actions carried out here.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import RouterCore

extension AMQPConnectionHandler {
    func handleChannelCommand(_ command: Command, on channel: RouterChannel) {
        switch command {
        case .content(_, .basicPublish(let publish), let header, let body):
            self.publish(publish, header: header, body: body, on: channel)
        case .content(_, let method, _, _):
            closeConnection(.commandInvalid, "COMMAND_INVALID - \(method.name) may not carry content from a client", method: method)
        case .heartbeat:
            break
        case .method(_, let method):
            switch method {
            case .basicAck(let ack):
                settle(ack.deliveryTag, multiple: ack.multiple, outcome: .ack, method: method, on: channel)
            case .basicReject(let reject):
                settle(reject.deliveryTag, multiple: false, outcome: reject.requeue ? .requeue : .discard, method: method, on: channel)
            case .basicNack(let nack):
                settle(nack.deliveryTag, multiple: nack.multiple, outcome: nack.requeue ? .requeue : .discard, method: method, on: channel)
            default:
                let environment = ChannelEnvironment(connection: id, vhost: vhost, partitions: context.partitions,
                                                     topology: context.topology.snapshot, user: connection.user)
                perform(channel.receive(method, in: environment, requests: &requests), for: method, on: channel)
            }
        }
    }

    func perform(_ actions: [ChannelAction], for method: AMQPMethod, on channel: RouterChannel) {
        perform(actions, classID: method.classID, methodID: method.methodID, on: channel)
    }

    /// Carries out what RouterCore decided for the method with these ids (or the answer to it).
    func perform(_ actions: [ChannelAction], classID: UInt16, methodID: UInt16, on channel: RouterChannel) {
        let number = channel.number.value
        for action in actions where channel.state.isOpen {
            switch action {
            case .send(let reply):
                sendMethod(number, reply)
            case .changeTopology(let change, let reply):
                let vhost = self.vhost
                changeTopology(reply, on: channel, classID: classID, methodID: methodID) { (t: inout Topology) throws(TopologyError) in
                    try change.apply(to: &t, in: vhost)
                }
            case .request(let request, let partition, let answerAwaited):
                // The worker is down: what awaits an answer fails as if it had gone away now.
                if !send(request, to: partition), answerAwaited { return requestsLost(to: partition) }
            case .fail(let code, let text):
                closeChannel(channel, code, text, classID: classID, methodID: methodID)
            case .closeConnection(let code, let text):
                closeConnection(code, text, classID: classID, methodID: methodID)
            case .closedByClient:
                releaseChannel(channel)
                channel.state.closedByClient()
                channels[number] = nil
                sendMethod(number, .channelCloseOk(ChannelCloseOk()))
            case .consumeReplyTo(let consume):
                consumeReplyTo(consume, on: channel)
            case .cancelReplyTo(let cancel):
                unregisterReplyConsumer(channel)
                if !cancel.noWait { sendMethod(number, .basicCancelOk(BasicCancelOk(consumerTag: cancel.consumerTag))) }
            case .declareReplyTo(let declare):
                declareReplyTo(declare, on: channel)
            case .commit(let transaction):
                guard commit(transaction, on: channel) else {
                    // Never a commit-ok for publishes that went nowhere.
                    return fail(channel, .notFound, "home node of a queue the transaction publishes to is down or inaccessible; "
                                + "the transaction's other publishes and acknowledgements were applied", method: .txCommit(TxCommit()))
                }
                if channel.state.isOpen { sendMethod(number, .txCommitOk(TxCommitOk())) }
            case .addQueue(let record, let keepExisting, let reply):
                changeTopology(reply, on: channel, classID: classID, methodID: methodID) { (t: inout Topology) throws(TopologyError) in
                    if !keepExisting || t.queue(record.id) == nil { t.addQueue(record) }
                }
            case .removeQueue(let queue, let reply):
                changeTopology(reply, on: channel, classID: classID, methodID: methodID) { (t: inout Topology) throws(TopologyError) in
                    t.removeQueue(queue)
                }
            case .sendGetOk(let getOk, let message):
                services.stats.delivered &+= 1
                sendContent(number, .basicGetOk(getOk), properties: message.properties, body: message.body)
            }
        }
    }

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

    private func releaseChannel(_ channel: RouterChannel) {
        for partition in channel.touchedPartitions {
            _ = send(.closeChannel(channel: channel.number), to: partition)
        }
        unregisterReplyConsumer(channel)
        channel.release()
    }

    /// tx.commit: the channel's publishes and acknowledgements, in the order they were made.
    /// Each worker applies its share in order; there is no atomicity across workers (as with
    /// RabbitMQ across queues: a transaction is not atomic across queues either). False when a
    /// publish could not reach its worker.
    private func commit(_ transaction: RouterChannel.Transaction, on channel: RouterChannel) -> Bool {
        for settle in transaction.settles where channel.state.isOpen {
            apply(channel.settleCommitted(settle.tag, multiple: settle.multiple), tag: settle.tag, outcome: settle.outcome,
                  method: .txCommit(TxCommit()), on: channel)
        }
        var allForwarded = true
        for publish in transaction.publishes where channel.state.isOpen {
            allForwarded = route(publish.method, header: publish.header, body: publish.body, on: channel) && allForwarded
        }
        return allForwarded
    }

    // MARK: Settles (per message)

    private func settle(_ tag: UInt64, multiple: Bool, outcome: SettleOutcome, method: AMQPMethod, on channel: RouterChannel) {
        apply(channel.settle(tag, multiple: multiple, outcome: outcome), tag: tag, outcome: outcome, method: method, on: channel)
    }

    private func apply(_ result: SettleResult, tag: UInt64, outcome: SettleOutcome, method: AMQPMethod, on channel: RouterChannel) {
        switch result {
        case .one(let settle):
            _ = send(.settle(channel: channel.number, tag: settle.tag, multiple: false, outcome: outcome), to: settle.partition)
        case .many(let settles):
            for settle in settles {
                _ = send(.settle(channel: channel.number, tag: settle.tag, multiple: settle.multiple, outcome: outcome), to: settle.partition)
            }
        case .heldForCommit:
            break
        case .unknownTag:
            fail(channel, .preconditionFailed, "unknown delivery tag \(tag)", method: method)
        }
    }

    // MARK: Topology changes that wait for the disk and the other routers

    /// Applies `change` and sends `reply` once it is on disk and, with routers on several
    /// hosts, agreed (at once when there is nothing to wait for); the channel's later commands
    /// wait meanwhile, as for a worker's answer. A change refused, now or after another
    /// router's, closes the channel with its error.
    func changeTopology(_ reply: AMQPMethod?, on channel: RouterChannel, classID: UInt16, methodID: UInt16,
                        _ change: @escaping TopologyStore.Change) {
        let done: EventLoopFuture<Void>?
        do {
            done = try context.topology.updateAwaited(on: services.eventLoop, change)
        } catch {
            return closeChannel(channel, error.code, error.text, classID: classID, methodID: methodID)
        }
        guard let reply else {
            // nowait: no answer, but a change refused after another router's still fails the channel.
            done?.assumeIsolated().whenComplete { [weak self] result in
                self?.nowaitChangeDone(channel, result, classID: classID, methodID: methodID)
            }
            return
        }
        guard let done else { return sendMethod(channel.number.value, reply) }
        channel.state.wait(for: PendingOperation(kind: .topologySaved(reply: reply), classID: classID, methodID: methodID))
        // Completes on this connection's loop (the store makes its promises there).
        done.assumeIsolated().whenComplete { [weak self] result in self?.topologySaved(channel, result) }
    }

    private func nowaitChangeDone(_ channel: RouterChannel, _ result: Result<Void, Error>, classID: UInt16, methodID: UInt16) {
        guard case .failure(let error as TopologyError) = result, channel.state.isOpen else { return }
        closeChannel(channel, error.code, error.text, classID: classID, methodID: methodID)
    }

    private func topologySaved(_ channel: RouterChannel, _ result: Result<Void, Error>) {
        guard let pending = channel.state.answered(), case .topologySaved(let reply) = pending.kind else { return }
        if case .failure(let error as TopologyError) = result {
            return closeChannel(channel, error.code, error.text, classID: pending.classID, methodID: pending.methodID)
        }
        sendMethod(channel.number.value, reply)
        resume(channel)
    }
}
