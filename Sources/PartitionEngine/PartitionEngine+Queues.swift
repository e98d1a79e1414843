// queue.declare, queue.delete and queue.purge (rabbit_channel's queue methods).
import BrokerModel
import LinkWire

extension PartitionEngine {
    mutating func declareQueue(_ id: LinkRequestID, _ declare: QueueDeclareRequest, from connection: ConnectionID,
                               into output: inout EngineOutput) {
        if let queue = queues[declare.queue] {
            if let error = Self.redeclareError(queue, declare, from: connection) {
                output.fail(id, error, to: connection)
                return
            }
            queue.lastUsed = now
            queue.expireHead(now: now, into: &output)
            output.send(.queueDeclared(id, queue: queue.id.name, messageCount: UInt32(clamping: queue.readyCount),
                                       consumerCount: UInt32(clamping: queue.consumers.count)), to: connection)
            return
        }
        if declare.passive {
            output.fail(id, .notFound(declare.queue), to: connection)
            return
        }
        let policy: QueuePolicy
        switch QueuePolicy.parse(declare.arguments, queue: declare.queue) {
        case .success(let parsed): policy = parsed
        case .failure(let error):
            output.fail(id, error, to: connection)
            return
        }
        let queue = EngineQueue(id: declare.queue, durable: declare.durable, exclusive: declare.exclusive,
                                autoDelete: declare.autoDelete, arguments: declare.arguments, policy: policy,
                                owner: declare.exclusive ? connection : nil, stats: stats, ledger: ledger)
        queue.lastUsed = now
        if declare.durable, !declare.exclusive, let journal {
            queue.storeRef = journal.queueDeclared(JournalQueue(id: declare.queue, autoDelete: declare.autoDelete,
                                                                arguments: declare.arguments))
            queue.journal = journal
            queue.paging = paging
        }
        queues[declare.queue] = queue
        if policy.isTimed { timedQueues[ObjectIdentifier(queue)] = queue }
        if declare.exclusive { connectionState(connection).ownedQueues.append(queue) }
        output.send(.queueDeclared(id, queue: queue.id.name, messageCount: 0, consumerCount: 0), to: connection)
    }

    /// RabbitMQ's checks on an existing queue, in its order: exclusive access (lax for a
    /// passive declare, strict otherwise, so an `exclusive` mismatch is 405), then durable,
    /// auto_delete and the arguments (406).
    static func redeclareError(_ queue: EngineQueue, _ declare: QueueDeclareRequest,
                               from connection: ConnectionID) -> ChannelError? {
        if declare.passive {
            return queue.isAccessible(by: connection) ? nil : .resourceLocked(queue.id)
        }
        let owner: ConnectionID? = declare.exclusive ? connection : nil
        if queue.owner != owner { return .resourceLocked(queue.id) }
        // RabbitMQ 3.10 treats every exclusive queue as transient, so `durable` is not compared.
        if !queue.exclusive, queue.durable != declare.durable {
            return .inequivalent(queue.id, field: "durable", received: quoted(declare.durable), current: quoted(queue.durable))
        }
        if queue.autoDelete != declare.autoDelete {
            return .inequivalent(queue.id, field: "auto_delete", received: quoted(declare.autoDelete), current: quoted(queue.autoDelete))
        }
        return QueueArguments.mismatch(current: queue.arguments, received: declare.arguments, queue: queue.id)
    }

    static func quoted(_ flag: Bool) -> String { flag ? "'true'" : "'false'" }

    mutating func deleteQueue(_ id: LinkRequestID, queue name: QueueID, ifUnused: Bool, ifEmpty: Bool,
                              from connection: ConnectionID, into output: inout EngineOutput) {
        guard let queue = queues[name] else {
            // RabbitMQ answers delete-ok for a queue that does not exist.
            output.send(.queueDeleted(id, messageCount: 0), to: connection)
            return
        }
        guard queue.isAccessible(by: connection) else {
            output.fail(id, .resourceLocked(name), to: connection)
            return
        }
        // rabbit_amqqueue_process checks if-empty before if-unused.
        if ifEmpty && queue.readyCount > 0 {
            output.fail(id, .notEmpty(name), to: connection)
            return
        }
        if ifUnused && !queue.consumers.isEmpty {
            output.fail(id, .inUse(name), to: connection)
            return
        }
        let count = delete(queue, into: &output)
        output.send(.queueDeleted(id, messageCount: UInt32(clamping: count)), to: connection)
    }

    mutating func purgeQueue(_ id: LinkRequestID, queue name: QueueID, from connection: ConnectionID,
                             into output: inout EngineOutput) {
        guard let queue = accessibleQueue(name, for: id, from: connection, into: &output) else { return }
        let count = queue.removeAllReady()
        output.send(.queuePurged(id, messageCount: UInt32(clamping: count)), to: connection)
    }

    /// Removes the queue, cancels its consumers (basic.cancel to each, as RabbitMQ does for
    /// consumers of a deleted queue) and forgets its ready messages. Its unacked deliveries
    /// stay on their channels; settling them later does nothing. Returns the ready count.
    mutating func delete(_ queue: EngineQueue, into output: inout EngineOutput) -> Int {
        queue.isDeleted = true
        queues[queue.id] = nil
        if let journal = queue.journal { journal.queueDeleted(queue.storeRef) }
        if let owner = queue.owner, let state = connections[owner],
           let index = state.ownedQueues.firstIndex(where: { $0 === queue }) {
            state.ownedQueues.remove(at: index)
        }
        for consumer in queue.consumers {
            consumer.isActive = false
            consumer.channel.removeConsumer(consumer)
            output.send(.consumerCancelled(channel: consumer.channel.number, consumerTag: consumer.tag),
                        to: consumer.channel.connection)
        }
        queue.consumers.removeAll()
        timedQueues[ObjectIdentifier(queue)] = nil
        return queue.removeAllReady()
    }

    /// The queue a request names, or nil after answering 404 (missing) or 405 (another
    /// connection's exclusive queue).
    func accessibleQueue(_ name: QueueID, for id: LinkRequestID, from connection: ConnectionID,
                         into output: inout EngineOutput) -> EngineQueue? {
        guard let queue = queues[name] else {
            output.fail(id, .notFound(name), to: connection)
            return nil
        }
        guard queue.isAccessible(by: connection) else {
            output.fail(id, .resourceLocked(name), to: connection)
            return nil
        }
        return queue
    }
}
