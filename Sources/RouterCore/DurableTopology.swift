// What of the topology survives a restart (invariant 7), as RabbitMQ keeps it: durable
// exchanges (the standard ones are made anew), durable queues that are not exclusive (the
// router's record of where they live; their messages are the workers'), and the bindings
// whose source and destination are both durable. Encoded in a small binary format of its
// own ("BRKTOPO1", version, then the three lists) for the router's `topology` file.
import AMQPWire
import BrokerModel
import NIOCore

public struct DurableTopology: Equatable, Sendable {
    public struct VHostExchange: Equatable, Sendable {
        public var vhost: VHost
        public var definition: ExchangeDefinition
    }

    public struct VHostBinding: Equatable, Sendable {
        public var vhost: VHost
        public var binding: Binding
    }

    public var exchanges: [VHostExchange] = []
    public var queues: [QueueRecord] = []
    public var bindings: [VHostBinding] = []

    public init() {}

    static let magic: [UInt8] = Array("BRKTOPO1".utf8)
    static let version: UInt16 = 1
}

extension Topology {
    /// The durable part, in a stable order.
    public var durablePart: DurableTopology {
        var part = DurableTopology()
        for vhost in vhostNames {
            let standard = Set(ExchangeDefinition.standard.map(\.name))
            let durableExchanges = Set(exchanges(in: vhost).filter { $0.durable }.map(\.name))
            part.exchanges += exchanges(in: vhost).filter { $0.durable && !standard.contains($0.name) }
                .map { DurableTopology.VHostExchange(vhost: vhost, definition: $0) }
            let durableQueues = queues(in: vhost).filter { $0.durable && $0.exclusiveOwner == nil }
            part.queues += durableQueues
            let queueNames = Set(durableQueues.map(\.id.name))
            part.bindings += bindings(in: vhost).filter { binding in
                guard durableExchanges.contains(binding.source) else { return false }
                switch binding.destination {
                case .queue(let name): return queueNames.contains(name)
                case .exchange(let name): return durableExchanges.contains(name)
                }
            }.map { DurableTopology.VHostBinding(vhost: vhost, binding: $0) }
        }
        return part
    }

    /// Adds a recovered durable part to a fresh topology.
    public mutating func restore(_ part: DurableTopology) throws(TopologyError) {
        for entry in part.exchanges { try declareExchange(entry.definition, passive: false, in: entry.vhost) }
        for queue in part.queues { addQueue(queue) }
        for entry in part.bindings { try bind(entry.binding, in: entry.vhost) }
    }
}

extension DurableTopology {
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(Self.version)
        buffer.writeInteger(UInt32(exchanges.count))
        for entry in exchanges {
            let definition = entry.definition
            buffer.writeLongString(entry.vhost.name)
            buffer.writeLongString(definition.name.name)
            buffer.writeShortString(definition.type.rawValue)
            var flags: UInt8 = 0
            if definition.durable { flags |= 1 }
            if definition.autoDelete { flags |= 2 }
            if definition.internal { flags |= 4 }
            if definition.delayed { flags |= 8 }
            buffer.writeInteger(flags)
            buffer.writeFieldTable(definition.arguments)
        }
        buffer.writeInteger(UInt32(queues.count))
        for queue in queues {
            buffer.writeLongString(queue.id.vhost.name)
            buffer.writeLongString(queue.id.name.name)
            buffer.writeInteger(UInt32(queue.partition.index))
            buffer.writeInteger(UInt8(queue.autoDelete ? 1 : 0))
        }
        buffer.writeInteger(UInt32(bindings.count))
        for entry in bindings {
            let binding = entry.binding
            buffer.writeLongString(entry.vhost.name)
            buffer.writeLongString(binding.source.name)
            switch binding.destination {
            case .queue(let name):
                buffer.writeInteger(UInt8(0))
                buffer.writeLongString(name.name)
            case .exchange(let name):
                buffer.writeInteger(UInt8(1))
                buffer.writeLongString(name.name)
            }
            buffer.writeLongString(binding.routingKey)
            buffer.writeFieldTable(binding.arguments)
        }
        return buffer
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    public init(decoding source: ByteBuffer) throws(Malformed) {
        var buffer = source
        guard buffer.readBytes(length: 8) == Self.magic, let version = buffer.readInteger(as: UInt16.self),
              version <= Self.version else {
            throw Malformed(description: "not a topology file of a version this broker reads")
        }
        do {
            self.init()
            for _ in 0..<(try Self.count(&buffer)) {
                let vhost = VHost(try buffer.readLongStringAsString())
                let name = ExchangeName(try buffer.readLongStringAsString())
                let typeName = try buffer.readShortString()
                guard let type = ExchangeType(rawValue: typeName), let flags = buffer.readInteger(as: UInt8.self) else {
                    throw Malformed(description: "exchange '\(name.name)': unknown type '\(typeName)'")
                }
                let arguments = try buffer.readFieldTable()
                exchanges.append(VHostExchange(vhost: vhost, definition: ExchangeDefinition(
                    name: name, type: type, durable: flags & 1 != 0, autoDelete: flags & 2 != 0, internal: flags & 4 != 0,
                    arguments: arguments, delayed: flags & 8 != 0)))
            }
            for _ in 0..<(try Self.count(&buffer)) {
                let vhost = VHost(try buffer.readLongStringAsString())
                let name = QueueName(try buffer.readLongStringAsString())
                guard let partition = buffer.readInteger(as: UInt32.self), let autoDelete = buffer.readInteger(as: UInt8.self) else {
                    throw Malformed(description: "a truncated queue")
                }
                queues.append(QueueRecord(id: QueueID(vhost: vhost, name: name), partition: PartitionID(Int(partition)),
                                          durable: true, autoDelete: autoDelete != 0))
            }
            for _ in 0..<(try Self.count(&buffer)) {
                let vhost = VHost(try buffer.readLongStringAsString())
                let source = ExchangeName(try buffer.readLongStringAsString())
                guard let kind = buffer.readInteger(as: UInt8.self) else { throw Malformed(description: "a truncated binding") }
                let target = try buffer.readLongStringAsString()
                let destination: BindingDestination = kind == 0 ? .queue(QueueName(target)) : .exchange(ExchangeName(target))
                let routingKey = try buffer.readLongStringAsString()
                let arguments = try buffer.readFieldTable()
                bindings.append(VHostBinding(vhost: vhost, binding: Binding(source: source, destination: destination,
                                                                            routingKey: routingKey, arguments: arguments)))
            }
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(description: "\(error)")
        }
    }

    private static func count(_ buffer: inout ByteBuffer) throws(Malformed) -> Int {
        guard let count = buffer.readInteger(as: UInt32.self) else { throw Malformed(description: "truncated") }
        return Int(count)
    }
}
