// The two messages sent once per message, a publish and a delivery, are written into one
// reserved region each (see `AMQPWire.ByteWriter`), not field by field: `encode(into:)` and
// `write(into:)` (which adds the length prefix in the same region) share the one layout here.
import AMQPWire
import NIOCore

/// A link message written into one reserved region.
protocol RegionEncoded {
    /// The kind and the fields, in bytes.
    var encodedSize: Int { get }
    /// Writes the kind and the fields: exactly `encodedSize` bytes.
    func encode(into out: inout ByteWriter)
}

extension ByteBuffer {
    /// The kind and the fields (what `LinkCodable.encode(into:)` appends).
    mutating func writeRegion(_ message: some RegionEncoded) {
        write(size: message.encodedSize) { message.encode(into: &$0) }
    }

    /// The length prefix too, in the same region (what `LinkCodable.write(into:)` appends).
    mutating func writeRegionWithLength(_ message: some RegionEncoded) {
        let size = message.encodedSize
        write(size: 4 + size) { out in
            out.write(UInt32(size))
            message.encode(into: &out)
        }
    }
}

extension LinkRequest {
    public func write(into buffer: inout ByteBuffer) {
        guard case .publish(let publish) = self else { return writeFieldByField(into: &buffer) }
        buffer.writeRegionWithLength(publish)
    }
}

extension WorkerEvent {
    public func write(into buffer: inout ByteBuffer) {
        guard case .deliver(let delivery) = self else { return writeFieldByField(into: &buffer) }
        buffer.writeRegionWithLength(delivery)
    }
}

extension PublishRequest: RegionEncoded {
    static let nameLimit = Int(UInt16.max)

    var encodedSize: Int {
        var names = ByteWriter.length(vhost.name, limit: Self.nameLimit)
            + ByteWriter.length(message.exchange, limit: Self.nameLimit)
            + ByteWriter.length(message.routingKey, limit: Self.nameLimit)
        for queue in queues { names += 2 + ByteWriter.length(queue.name, limit: Self.nameLimit) }
        return 1 + 2 + 8 + 2 + 2 + 2 + 2 + 4 + 4 + 8 + names
            + message.properties.readableBytes + message.body.readableBytes
    }

    func encode(into out: inout ByteWriter) {
        out.write(LinkRequest.Kind.publish.rawValue)
        out.write(channel.value)
        out.write(confirmSequence)
        out.write(vhost.name, lengthAs: UInt16.self, limit: Self.nameLimit)
        out.write(UInt16(queues.count))
        for queue in queues { out.write(queue.name, lengthAs: UInt16.self, limit: Self.nameLimit) }
        out.write(message.exchange, lengthAs: UInt16.self, limit: Self.nameLimit)
        out.write(message.routingKey, lengthAs: UInt16.self, limit: Self.nameLimit)
        out.write(UInt32(message.properties.readableBytes))
        out.write(message.properties)
        out.write(UInt32(message.body.readableBytes))
        out.write(message.body)
        out.write(expiration ?? UInt64.max)
    }
}

extension DeliveryEvent: RegionEncoded {
    private var prefixSize: Int {
        DeliveryFrames.prefixSize(consumerTag: consumerTag, exchange: message.exchange, routingKey: message.routingKey,
                                  properties: message.properties)
    }

    var encodedSize: Int { 1 + 2 + 8 + 1 + 4 + prefixSize + 4 + message.body.readableBytes }

    /// The AMQP frames travel as one blob (see `EncodedDelivery`), the body as another.
    func encode(into out: inout ByteWriter) {
        out.write(WorkerEvent.Kind.deliverFrames.rawValue)
        out.write(channel.value)
        out.write(tag.value)
        out.write(noAck)
        out.write(UInt32(prefixSize))
        DeliveryFrames.writePrefix(consumerTag: consumerTag, redelivered: redelivered, exchange: message.exchange,
                                   routingKey: message.routingKey, properties: message.properties,
                                   bodySize: message.body.readableBytes, into: &out)
        out.write(UInt32(message.body.readableBytes))
        out.write(message.body)
    }
}
