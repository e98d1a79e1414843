// Direct reply-to (RabbitMQ's `amq.rabbitmq.reply-to`): an RPC client consumes from the
// pseudo-queue with no-ack and publishes requests with that reply-to; the router rewrites it
// to `amq.rabbitmq.reply-to.<name>`, and a reply published to the default exchange with that
// routing key goes straight to the client's consumer, through no queue and no worker. The
// name says which router event loop holds the consumer, so a reply hops to that loop.
import AMQPWire
import BrokerModel
import NIOCore
import RouterCore

extension AMQPConnectionHandler {

    func consumeReplyTo(_ consume: BasicConsume, on channel: RouterChannel) {
        guard consume.noAck else {
            return fail(channel, .preconditionFailed, "reply consumer cannot acknowledge", method: .basicConsume(consume))
        }
        guard channel.replyConsumer == nil else {
            return fail(channel, .preconditionFailed, "reply consumer already set", method: .basicConsume(consume))
        }
        let tag = consume.consumerTag.isEmpty ? "amq.ctag-" + RandomName.make(length: 22) : consume.consumerTag
        let name = "\(services.index).\(id.value).\(channel.number.value).\(RandomName.make(length: 16))"
        channel.replyConsumer = RouterChannel.ReplyConsumer(tag: tag, name: name)
        services.replyConsumers[name] = LoopServices.ReplyConsumer(connection: self, channel: channel.number, consumerTag: tag)
        context.replyNames.insert(name)
        if !consume.noWait { sendMethod(channel.number.value, .basicConsumeOk(BasicConsumeOk(consumerTag: tag))) }
    }

    func unregisterReplyConsumer(_ channel: RouterChannel) {
        guard let consumer = channel.replyConsumer else { return }
        services.replyConsumers[consumer.name] = nil
        context.replyNames.remove(consumer.name)
        channel.replyConsumer = nil
    }

    /// A request whose reply-to is the pseudo-queue gets the channel's own reply name, or
    /// the channel error RabbitMQ gives when the channel does not consume replies.
    func rewriteReplyTo(_ header: ContentHeader, on channel: RouterChannel) -> Result<ContentHeader, TopologyError> {
        let replyToFlag: UInt16 = 1 << 9
        guard let flags = header.rawProperties.getInteger(at: header.rawProperties.readerIndex, as: UInt16.self),
              flags & replyToFlag != 0,
              var properties = try? header.decodeProperties(),
              properties.replyTo == ReplyTo.queue else { return .success(header) }
        guard let consumer = channel.replyConsumer else {
            return .failure(TopologyError(code: .preconditionFailed,
                                          text: ReplyCode.preconditionFailed.replyText("fast reply consumer does not exist")))
        }
        properties.replyTo = ReplyTo.prefix + consumer.name
        return .success(ContentHeader(bodySize: header.bodySize, properties: properties))
    }

    /// A publish to `amq.rabbitmq.reply-to.<name>` on the default exchange: handed to the
    /// consumer's loop. False when no consumer has the name (then it is unroutable, as in
    /// RabbitMQ); one that leaves while the reply travels does not get it.
    func publishReply(routingKey: String, properties: ByteBuffer, body: ByteBuffer) -> Bool {
        let name = String(routingKey.dropFirst(ReplyTo.prefix.count))
        guard context.replyNames.contains(name), let dot = name.firstIndex(of: "."), let loop = Int(name[..<dot]),
              loop >= 0, loop < services.all.count else {
            return false
        }
        let target = services.all[loop]
        target.eventLoop.execute {
            guard let consumer = target.replyConsumers[name] else { return }
            consumer.connection?.deliverReply(to: consumer, routingKey: routingKey, properties: properties, body: body)
        }
        return true
    }

    /// queue.declare of the pseudo-queue: RabbitMQ answers with one consumer and no messages;
    /// a reply name is there only while its consumer is.
    func declareReplyTo(_ declare: QueueDeclare, on channel: RouterChannel) {
        let name = declare.queue
        guard name == ReplyTo.queue || (declare.passive && context.replyNames.contains(String(name.dropFirst(ReplyTo.prefix.count)))) else {
            return fail(channel, .notFound, "no queue '\(name)' in vhost '\(vhost.name)'", method: .queueDeclare(declare))
        }
        if !declare.noWait {
            sendMethod(channel.number.value, .queueDeclareOk(QueueDeclareOk(queue: name, messageCount: 0, consumerCount: 1)))
        }
    }

    func deliverReply(to consumer: LoopServices.ReplyConsumer, routingKey: String, properties: ByteBuffer, body: ByteBuffer) {
        guard connection.isOpen, let channel = channels[consumer.channel.value], channel.state.isOpen,
              channel.replyConsumer?.tag == consumer.consumerTag else { return }
        let tag = channel.tags.nextTag(partition: PartitionID(0), partitionTag: PartitionDeliveryTag(0), tracked: false)
        services.stats.delivered &+= 1
        sendContent(channel.number.value, .basicDeliver(BasicDeliver(
            consumerTag: consumer.consumerTag, deliveryTag: tag.value, redelivered: false,
            exchange: "", routingKey: routingKey)), properties: properties, body: body)
    }
}
