// Dead-lettering, the router's half: a worker hands over a message its queue rejected,
// expired or dropped for length; the router records the death in the `x-death` header as
// RabbitMQ does, routes it through the queue's dead-letter exchange (whose bindings only
// the router knows), and forwards it to the owning workers over their control streams.
// As with RabbitMQ's classic queues this is at most once: no confirm is awaited.
import AMQPWire
import BrokerModel
import LinkWire
import Logging
import NIOCore
import RouterCore

final class DeadLetterForwarder {
    private let topology: TopologyStore
    private let logger: Logger
    /// This event loop's links, indexed by partition.
    var links: [WorkerLinkClient] = []

    init(topology: TopologyStore, logger: Logger) {
        self.topology = topology
        self.logger = logger
    }

    func forward(_ event: DeadLetterEvent, nowSeconds: UInt64) {
        let vhost = event.queue.vhost
        var properties: BasicProperties
        do {
            properties = try ContentHeader(bodySize: 0, rawProperties: event.message.properties).decodeProperties()
        } catch {
            logger.warning("dropping a dead-lettered message with unreadable properties", metadata: ["queue": "\(event.queue)"])
            return
        }
        let deaths = Self.recordDeath(event, in: &properties, nowSeconds: nowSeconds)
        let routingKey = event.deadLetterRoutingKey ?? event.message.routingKey
        let queues: [QueueRecord]
        do {
            queues = try topology.snapshot.route(exchange: ExchangeName(event.deadLetterExchange), routingKey: routingKey,
                                                  headers: { properties.headers }, in: vhost)
        } catch {
            // RabbitMQ drops the message when the dead-letter exchange is missing.
            logger.debug("dead-letter exchange unusable; message dropped", metadata: ["queue": "\(event.queue)", "error": "\(error)"])
            return
        }
        var encoded = ByteBuffer()
        properties.encode(into: &encoded)
        let message = LinkMessage(exchange: event.deadLetterExchange, routingKey: routingKey,
                                  properties: encoded, body: event.message.body)
        var byPartition: [PartitionID: [QueueName]] = [:]
        for queue in queues where !Self.isCycle(queue.id.name, deaths: deaths) {
            byPartition[queue.partition, default: []].append(queue.id.name)
        }
        for (partition, names) in byPartition {
            links[partition.index].sendControl(.publish(PublishRequest(
                channel: ChannelNumber(0), confirmSequence: 0, vhost: vhost, queues: names, message: message)))
        }
    }

    /// Adds this death to `x-death` (count per queue and reason, newest first) and the
    /// `x-first-death-*` headers; returns the x-death entries as (queue, reason).
    static func recordDeath(_ event: DeadLetterEvent, in properties: inout BasicProperties, nowSeconds: UInt64) -> [(String, String)] {
        var headers = properties.headers ?? FieldTable()
        var deaths: [FieldValue] = []
        if case .array(let existing)? = headers["x-death"] { deaths = existing }
        let queueName = event.queue.name.name
        let reason = event.reason.name
        var count: Int64 = 1
        if let index = deaths.firstIndex(where: { entry in
            guard case .table(let table) = entry else { return false }
            return table["queue"] == .longString(Array(queueName.utf8)) && table["reason"] == .longString(Array(reason.utf8))
        }) {
            if case .table(let old) = deaths[index], case .int64(let previous)? = old["count"] { count = previous + 1 }
            deaths.remove(at: index)
        }
        var entry: FieldTable = [
            "count": .int64(count),
            "reason": .longString(Array(reason.utf8)),
            "queue": .longString(Array(queueName.utf8)),
            "time": .timestamp(nowSeconds),
            "exchange": .longString(Array(event.message.exchange.utf8)),
            "routing-keys": .array([.longString(Array(event.message.routingKey.utf8))]),
        ]
        // The expiration is moved aside so that the message does not expire again wherever
        // it is routed next (RabbitMQ's original-expiration).
        if let expiration = properties.expiration {
            entry["original-expiration"] = .longString(Array(expiration.utf8))
            properties.expiration = nil
        }
        deaths.insert(.table(entry), at: 0)
        headers["x-death"] = .array(deaths)
        if headers["x-first-death-reason"] == nil {
            headers["x-first-death-reason"] = .longString(Array(reason.utf8))
            headers["x-first-death-queue"] = .longString(Array(queueName.utf8))
            headers["x-first-death-exchange"] = .longString(Array(event.message.exchange.utf8))
        }
        properties.headers = headers
        return deaths.compactMap { value in
            guard case .table(let t) = value, case .longString(let q)? = t["queue"], case .longString(let r)? = t["reason"] else { return nil }
            return (String(decoding: q, as: UTF8.self), String(decoding: r, as: UTF8.self))
        }
    }

    /// RabbitMQ drops a message that would return to a queue it already died in, unless a
    /// client rejected it somewhere on the way (then the loop is the application's choice).
    static func isCycle(_ queue: QueueName, deaths: [(String, String)]) -> Bool {
        guard deaths.contains(where: { $0.0 == queue.name }) else { return false }
        return !deaths.contains(where: { $0.1 == DeadLetterReason.rejected.name })
    }
}
