// /api/queues: list, show, declare (PUT), delete and purge. The router's topology says which
// queues exist; each queue's worker gives its depths, consumers and arguments (its
// statistics over the link). Declares, deletes and purges go to the owning worker on its
// control stream, and the topology follows the worker's answer, as for a client's
// queue.declare / queue.delete.
import AMQPWire
import BrokerModel
import BrokerTelemetry
import Definitions
import LinkWire
import NIOCore
import NIOHTTP1
import RouterCore

extension ManagementAPI {
    func routeQueues(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        if call.match(.GET, "queues") != nil { return queueList(nil) }
        if let c = call.match(.GET, "queues/*") { return queueList(c[0]) }
        if let c = call.match(.GET, "queues/*/*") { return showQueue(c[0], c[1]) }
        if let c = call.match(.PUT, "queues/*/*") { return declareQueue(call, c[0], c[1]) }
        if let c = call.match(.DELETE, "queues/*/*") { return deleteQueue(call, c[0], c[1]) }
        if let c = call.match(.DELETE, "queues/*/*/contents") { return purgeQueue(call, c[0], c[1]) }
        return nil
    }

    /// The workers' view of every queue, by id, and which partitions answered.
    struct QueueFigures: Sendable {
        var queues: [QueueID: WorkerStats.Queue] = [:]
        var up: Set<Int> = []

        init(_ workers: [WorkerStatus]) {
            for worker in workers {
                guard let stats = worker.stats else { continue }
                up.insert(worker.partition)
                for queue in stats.queues {
                    queues[QueueID(vhost: VHost(queue.vhost), name: QueueName(queue.name))] = queue
                }
            }
        }

        /// The queue's declare arguments as the worker keeps them.
        func arguments(of id: QueueID) -> FieldTable {
            guard let bytes = queues[id]?.arguments else { return FieldTable() }
            var buffer = ByteBuffer(bytes: bytes)
            return (try? buffer.readFieldTable()) ?? FieldTable()
        }
    }

    func queueFigures() -> EventLoopFuture<QueueFigures> {
        telemetry.workers().map(QueueFigures.init)
    }

    private func queueList(_ vhostName: String?) -> EventLoopFuture<HTTPReply> {
        queueFigures().map { [self] figures in
            guard let vhosts = vhosts(vhostName) else { return Self.notFound }
            let topology = backend.topology
            return Self.ok(.array(vhosts.flatMap { topology.queues(in: $0) }.map { queueJSON($0, figures) }))
        }
    }

    private func showQueue(_ vhostName: String, _ name: String) -> EventLoopFuture<HTTPReply> {
        queueFigures().and(telemetry.connectionSnapshots()).map { [self] figures, connections in
            guard let vhost = vhost(vhostName),
                  let record = backend.topology.queue(QueueID(vhost: vhost, name: QueueName(name))) else { return Self.notFound }
            guard case .object(var fields) = queueJSON(record, figures) else { return Self.notFound }
            let consumers = consumerEntries(connections).filter { $0.queue == record.id }.map(\.json)
            fields.append((key: "consumer_details", value: .array(consumers)))
            return Self.ok(.object(fields))
        }
    }

    /// RabbitMQ's queue fields (those that apply), plus the owning `partition`.
    func queueJSON(_ record: QueueRecord, _ figures: QueueFigures) -> JSON {
        let stats = figures.queues[record.id]
        let ready = stats?.ready ?? 0, unacked = stats?.unacked ?? 0
        return [
            "name": .string(record.id.name.name),
            "vhost": .string(record.id.vhost.name),
            "durable": .bool(record.durable),
            "auto_delete": .bool(record.autoDelete),
            "exclusive": .bool(record.exclusiveOwner != nil),
            "arguments": JSON(figures.arguments(of: record.id)),
            "node": .string(Self.nodeName),
            "state": figures.up.contains(record.partition.index) ? "running" : "down",
            "type": "classic",
            "messages": .int(ready + unacked),
            "messages_ready": .int(ready),
            "messages_unacknowledged": .int(unacked),
            "consumers": .int(stats?.consumers ?? 0),
            "policy": nil,
            "exclusive_consumer_tag": nil,
            "partition": .int(record.partition.index),
        ]
    }

    private func declareQueue(_ call: Call, _ vhostName: String, _ name: String) -> EventLoopFuture<HTTPReply> {
        guard let vhost = vhost(vhostName) else { return succeed(call, Self.vhostNotFound) }
        guard let body = call.body() else { return succeed(call, Self.badRequest("not_json")) }
        guard let durable = (body["durable"] ?? false).flagValue,
              let autoDelete = (body["auto_delete"] ?? false).flagValue else {
            return succeed(call, Self.badRequest("durable and auto_delete must be true or false"))
        }
        guard let arguments = (body["arguments"] ?? .null).fieldTable else {
            return succeed(call, Self.badRequest("arguments must be an object"))
        }
        return declareQueue(QueueID(vhost: vhost, name: QueueName(name)), durable: durable, autoDelete: autoDelete,
                            arguments: arguments, on: call.loop)
    }

    /// Declares the queue on its worker: 201 when created, 204 when an equivalent one existed.
    func declareQueue(_ queue: QueueID, durable: Bool, autoDelete: Bool, arguments: FieldTable,
                      on loop: EventLoop) -> EventLoopFuture<HTTPReply> {
        // RabbitMQ reserves "amq." for the server (rabbit_channel:check_name).
        guard !queue.name.name.hasPrefix("amq."), !queue.name.name.isEmpty else {
            return loop.makeSucceededFuture(Self.notAuthorised("Access refused."))
        }
        let partition = backend.partition(of: queue)
        let topology = backend.topology
        if let refusal = topology.queueLimitRefusal(queue) { return loop.makeSucceededFuture(Self.badRequest(refusal.detail)) }
        let existed = topology.queue(queue) != nil
        var encoded = ByteBuffer()
        encoded.writeFieldTable(arguments)
        let request = QueueDeclareRequest(channel: ChannelNumber(0), queue: queue, durable: durable, autoDelete: autoDelete,
                                          arguments: encoded)
        return telemetry.controlRequest(to: partition) { .declareQueue($0, request) }.map { [backend] answer in
            Self.reply(to: answer) {
                guard case .queueDeclared = $0 else { return nil }
                try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in t.addQueue(QueueRecord(id: queue, partition: partition, durable: durable, autoDelete: autoDelete)) }
                return existed ? Self.noContent : Self.created
            }
        }
    }

    private func deleteQueue(_ call: Call, _ vhostName: String, _ name: String) -> EventLoopFuture<HTTPReply> {
        guard let vhost = vhost(vhostName) else { return succeed(call, Self.notFound) }
        let queue = QueueID(vhost: vhost, name: QueueName(name))
        guard backend.topology.queue(queue) != nil else { return succeed(call, Self.notFound) }
        let ifEmpty = call.flag("if-empty"), ifUnused = call.flag("if-unused")
        return telemetry.controlRequest(to: backend.partition(of: queue)) {
            .deleteQueue($0, channel: ChannelNumber(0), queue: queue, ifUnused: ifUnused, ifEmpty: ifEmpty)
        }.map { [backend] answer in
            Self.reply(to: answer) {
                guard case .queueDeleted = $0 else { return nil }
                try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in t.removeQueue(queue) }
                return Self.noContent
            }
        }
    }

    private func purgeQueue(_ call: Call, _ vhostName: String, _ name: String) -> EventLoopFuture<HTTPReply> {
        guard let vhost = vhost(vhostName) else { return succeed(call, Self.notFound) }
        let queue = QueueID(vhost: vhost, name: QueueName(name))
        guard backend.topology.queue(queue) != nil else { return succeed(call, Self.notFound) }
        return telemetry.controlRequest(to: backend.partition(of: queue)) {
            .purgeQueue($0, channel: ChannelNumber(0), queue: queue)
        }.map { answer in
            Self.reply(to: answer) {
                guard case .queuePurged = $0 else { return nil }
                return Self.noContent
            }
        }
    }

    /// A worker's answer to a control request: `success` turns the expected answer into the
    /// reply (nil for any other); a refusal keeps the worker's code and text.
    private static func reply(to answer: RequestAnswer, success: (RequestAnswer) -> HTTPReply?) -> HTTPReply {
        if case .failed(let code, let text) = answer { return refused(code: code, text: text) }
        return success(answer) ?? failure(.internalServerError, error: "internal_error", reason: "unexpected answer \(answer)")
    }
}
