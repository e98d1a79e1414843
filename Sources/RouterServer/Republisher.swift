// Messages a worker hands back to be routed again, since only the router knows the
// bindings: dead letters (a queue rejected, expired or dropped one for length: the death is
// recorded in the `x-death` header as RabbitMQ does and the message goes through the
// queue's dead-letter exchange) and delayed messages that fell due (routed through their
// x-delayed-message exchange). Either is forwarded to the owning workers over their control
// streams. As with RabbitMQ's classic queues and delayed-message plugin this is at most
// once: no confirm is awaited.
import AMQPWire
import BrokerModel
import LinkWire
import Logging
import NIOCore
import RouterCore

final class Republisher {
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
        // The keys the message was published with: its routing key and its CC header (as
        // RabbitMQ records them); without x-dead-letter-routing-key it is routed with all of
        // them, with it the CC header goes.
        let publishedKeys = [event.message.routingKey] + Self.ccKeys(of: properties)
        let deaths = Self.recordDeath(event, routingKeys: publishedKeys, in: &properties, nowSeconds: nowSeconds)
        let routingKey = event.deadLetterRoutingKey ?? event.message.routingKey
        if event.deadLetterRoutingKey != nil, properties.headers?["CC"] != nil { properties.headers?["CC"] = nil }
        var queues: [QueueRecord] = []
        do {
            let snapshot = topology.snapshot
            for key in event.deadLetterRoutingKey.map({ [$0] }) ?? publishedKeys {
                let more = try snapshot.route(exchange: ExchangeName(event.deadLetterExchange), routingKey: key,
                                              headers: { properties.headers }, in: vhost)
                for queue in more where !queues.contains(where: { $0.id == queue.id }) { queues.append(queue) }
            }
        } catch {
            // RabbitMQ drops the message when the dead-letter exchange is missing.
            logger.debug("dead-letter exchange unusable; message dropped", metadata: ["queue": "\(event.queue)", "error": "\(error)"])
            return
        }
        var encoded = ByteBuffer()
        properties.encode(into: &encoded)
        let message = LinkMessage(exchange: event.deadLetterExchange, routingKey: routingKey,
                                  properties: encoded, body: event.message.body)
        publish(message, to: queues.filter { !Self.isCycle($0.id.name, deaths: deaths) }, in: vhost)
    }

    /// A delayed message is due: route it as its exchange's x-delayed-type, with x-delay
    /// negated as the plugin does (so that another delayed exchange does not hold it again).
    func forwardDelayed(_ message: LinkMessage, in vhost: VHost) {
        var message = message
        guard var properties = try? ContentHeader(bodySize: 0, rawProperties: message.properties).decodeProperties() else {
            logger.warning("dropping a delayed message with unreadable properties", metadata: ["exchange": "\(message.exchange)"])
            return
        }
        if var headers = properties.headers, let delay = headers["x-delay"]?.integerValue {
            headers["x-delay"] = .int64(-delay)
            properties.headers = headers
            var encoded = ByteBuffer()
            properties.encode(into: &encoded)
            message.properties = encoded
        }
        let queues: [QueueRecord]
        do {
            queues = try topology.snapshot.route(exchange: ExchangeName(message.exchange), routingKey: message.routingKey,
                                                  headers: { properties.headers }, in: vhost)
        } catch {
            logger.debug("delayed exchange gone; message dropped", metadata: ["exchange": "\(message.exchange)"])
            return
        }
        publish(message, to: queues, in: vhost)
    }

    private func publish(_ message: LinkMessage, to queues: [QueueRecord], in vhost: VHost) {
        var byPartition: [PartitionID: [QueueName]] = [:]
        for queue in queues { byPartition[queue.partition, default: []].append(queue.id.name) }
        for (partition, names) in byPartition {
            links[partition.index].sendControl(.publish(PublishRequest(
                channel: ChannelNumber(0), confirmSequence: 0, vhost: vhost, queues: names, message: message)))
        }
    }

    /// Adds this death to `x-death` (count per queue and reason, newest first) and the
    /// `x-first-death-*` headers; returns the x-death entries as (queue, reason).
    static func ccKeys(of properties: BasicProperties) -> [String] {
        guard case .array(let values)? = properties.headers?["CC"] else { return [] }
        return values.compactMap(\.stringValue)
    }

    static func recordDeath(_ event: DeadLetterEvent, routingKeys: [String], in properties: inout BasicProperties,
                            nowSeconds: UInt64) -> [(String, String)] {
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
            "routing-keys": .array(routingKeys.map { .longString(Array($0.utf8)) }),
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
