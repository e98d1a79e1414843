// The two messages sent once per message, written into one reserved region each (see
// `AMQPWire.ByteWriter`); their layout is the one `encode(into:)` writes field by field.
import AMQPWire
import NIOCore

extension LinkRequest {
    public func write(into buffer: inout ByteBuffer) {
        guard case .publish(let publish) = self else { return writeFieldByField(into: &buffer) }
        publish.write(into: &buffer)
    }
}

extension LinkEvent {
    public func write(into buffer: inout ByteBuffer) {
        guard case .deliver(let delivery) = self else { return writeFieldByField(into: &buffer) }
        delivery.write(into: &buffer)
    }
}

extension PublishRequest {
    func write(into buffer: inout ByteBuffer) {
        let limit = Int(UInt16.max)
        var names = ByteWriter.length(vhost.name, limit: limit) + ByteWriter.length(message.exchange, limit: limit)
            + ByteWriter.length(message.routingKey, limit: limit)
        for queue in queues { names += 2 + ByteWriter.length(queue.name, limit: limit) }
        let length = 1 + 2 + 8 + 2 + 2 + 2 + 2 + 4 + 4 + 8 + names
            + message.properties.readableBytes + message.body.readableBytes
        buffer.write(size: 4 + length) { out in
            out.write(UInt32(length))
            out.write(LinkRequest.Kind.publish.rawValue)
            out.write(channel.value)
            out.write(confirmSequence)
            out.write(vhost.name, lengthAs: UInt16.self, limit: limit)
            out.write(UInt16(queues.count))
            for queue in queues { out.write(queue.name, lengthAs: UInt16.self, limit: limit) }
            out.write(message.exchange, lengthAs: UInt16.self, limit: limit)
            out.write(message.routingKey, lengthAs: UInt16.self, limit: limit)
            out.write(UInt32(message.properties.readableBytes))
            out.write(message.properties)
            out.write(UInt32(message.body.readableBytes))
            out.write(message.body)
            out.write(expiration ?? UInt64.max)
        }
    }
}

extension DeliveryEvent {
    func write(into buffer: inout ByteBuffer) {
        let prefix = DeliveryFrames.prefixSize(consumerTag: consumerTag, exchange: message.exchange,
                                               routingKey: message.routingKey, properties: message.properties)
        let length = 1 + 2 + 8 + 1 + 4 + prefix + 4 + message.body.readableBytes
        buffer.write(size: 4 + length) { out in
            out.write(UInt32(length))
            out.write(LinkEvent.Kind.deliverFrames.rawValue)
            out.write(channel.value)
            out.write(tag.value)
            out.write(noAck)
            out.write(UInt32(prefix))
            DeliveryFrames.writePrefix(consumerTag: consumerTag, redelivered: redelivered, exchange: message.exchange,
                                       routingKey: message.routingKey, properties: message.properties,
                                       bodySize: message.body.readableBytes, into: &out)
            out.write(UInt32(message.body.readableBytes))
            out.write(message.body)
        }
    }
}
