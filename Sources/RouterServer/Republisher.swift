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
        let publishedKeys = [event.message.routingKey] + DeadLetterHeaders.ccKeys(of: properties)
        let deaths = DeadLetterHeaders.recordDeath(event, routingKeys: publishedKeys, in: &properties, nowSeconds: nowSeconds)
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
        publish(message, to: queues.filter { !DeadLetterHeaders.isCycle($0.id.name, deaths: deaths) }, in: vhost)
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
}
