// What of the topology survives a restart (invariant 7), as RabbitMQ keeps it: durable
// exchanges (the standard ones are made anew), durable queues that are not exclusive (the
// router's record of where they live; their messages are the workers'), and the bindings
// whose source and destination are both durable; and the users, vhosts and permissions.
// Encoded in a small binary format of its own ("BRKTOPO1", version, then the lists) for the
// router's `topology` file. Version 1 files (before users were kept) read with no access part.
// The same format carries the part that routers of several hosts share (`sharedPart`, in
// etcd), which adds transient exchanges and queues and exclusive queues with their owner.
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
    /// nil in a file from before users were kept: the configured ones are made anew.
    public var access: DurableAccess?

    public init() {}

    static let magic: [UInt8] = Array("BRKTOPO1".utf8)
    static let version: UInt16 = 2
}

/// Users (with their password hashes), vhosts and permission patterns, as saved.
public struct DurableAccess: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var user: String
        public var vhost: VHost
        public var configure: String
        public var write: String
        public var read: String
    }

    public var vhosts: [VHost] = []
    public var users: [UserRecord] = []
    public var permissions: [Entry] = []
    public var limits: [VHostLimitsEntry] = []

    public struct VHostLimitsEntry: Equatable, Sendable {
        public var vhost: VHost
        public var limits: VHostLimits
    }

    public init() {}

    init(_ access: AccessControl) {
        vhosts = access.vhosts.sorted { $0.name < $1.name }
        users = access.users.values.sorted { $0.name < $1.name }
        permissions = access.permissionList.map {
            Entry(user: $0.user, vhost: $0.vhost, configure: $0.entry.configure.text, write: $0.entry.write.text, read: $0.entry.read.text)
        }
        limits = access.limits.sorted { $0.key.name < $1.key.name }.map { VHostLimitsEntry(vhost: $0.key, limits: $0.value) }
    }

    /// The saved state, with the configured loopback users.
    func restored(loopbackUsers: Set<String>) throws(DurableTopology.Malformed) -> AccessControl {
        var access = AccessControl.empty
        access.loopbackUsers = loopbackUsers
        for vhost in vhosts { access.addVHost(vhost) }
        for user in users { access.putUser(user) }
        for entry in permissions {
            guard let configure = PermissionPattern(entry.configure), let write = PermissionPattern(entry.write),
                  let read = PermissionPattern(entry.read) else {
                throw DurableTopology.Malformed(description: "user '\(entry.user)': a permission pattern is not a regular expression")
            }
            _ = access.setPermissions(VHostPermissions(configure: configure, write: write, read: read), user: entry.user, vhost: entry.vhost)
        }
        for entry in limits {
            for name in VHostLimits.Name.allCases { _ = access.setLimit(name, entry.limits[name], vhost: entry.vhost) }
        }
        return access
    }
}

extension Topology {
    /// The durable part, in a stable order.
    public var durablePart: DurableTopology { part(durableOnly: true) }

    /// What the routers of several hosts share (Docs/scale-out.md): every exchange and queue,
    /// durable or not, exclusive ones with their owner (connection ids are unique across the
    /// routers), the bindings, and the users, vhosts and permissions.
    public var sharedPart: DurableTopology { part(durableOnly: false) }

    private func part(durableOnly: Bool) -> DurableTopology {
        var part = DurableTopology()
        for vhost in vhostNames {
            let standard = Set(ExchangeDefinition.standard.map(\.name))
            let kept = exchanges(in: vhost).filter { $0.durable || !durableOnly }
            let keptExchanges = Set(kept.map(\.name))
            part.exchanges += kept.filter { !standard.contains($0.name) }
                .map { DurableTopology.VHostExchange(vhost: vhost, definition: $0) }
            let keptQueues = queues(in: vhost).filter { !durableOnly || ($0.durable && $0.exclusiveOwner == nil) }
            part.queues += keptQueues
            let queueNames = Set(keptQueues.map(\.id.name))
            part.bindings += bindings(in: vhost).filter { binding in
                guard keptExchanges.contains(binding.source) else { return false }
                switch binding.destination {
                case .queue(let name): return queueNames.contains(name)
                case .exchange(let name): return keptExchanges.contains(name)
                }
            }.map { DurableTopology.VHostBinding(vhost: vhost, binding: $0) }
        }
        part.access = DurableAccess(access)
        return part
    }

    /// This topology with `shared` (what the routers agreed on) in place of its own: only its
    /// loopback users, which come from this router's configuration, are kept.
    public func adopting(shared: DurableTopology) throws -> Topology {
        var adopted = Topology()
        adopted.access.loopbackUsers = access.loopbackUsers
        try adopted.restore(shared)
        return adopted
    }

    /// Adds a recovered durable part to a fresh topology.
    public mutating func restore(_ part: DurableTopology) throws {
        if let saved = part.access {
            access = try saved.restored(loopbackUsers: access.loopbackUsers)
            for vhost in access.vhosts where vhosts[vhost] == nil { vhosts[vhost] = Self.standardVHost }
        }
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
            // 1: auto-delete; 2: transient; 4: exclusive, its owner follows. A file holds
            // durable queues that are not exclusive: 2 and 4 are only in a shared part.
            buffer.writeInteger(UInt8(queue.autoDelete ? 1 : 0) | UInt8(queue.durable ? 0 : 2) | UInt8(queue.exclusiveOwner == nil ? 0 : 4))
            if let owner = queue.exclusiveOwner { buffer.writeInteger(owner.value) }
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
        let access = self.access ?? DurableAccess()
        buffer.writeInteger(UInt32(access.vhosts.count))
        for vhost in access.vhosts { buffer.writeLongString(vhost.name) }
        buffer.writeInteger(UInt32(access.users.count))
        for user in access.users {
            buffer.writeLongString(user.name)
            buffer.writeShortString(user.passwordHash?.algorithm.rawValue ?? "")
            buffer.writeLongString(user.passwordHash?.base64 ?? "")
            buffer.writeInteger(UInt32(user.tags.count))
            for tag in user.tags { buffer.writeLongString(tag) }
        }
        buffer.writeInteger(UInt32(access.permissions.count))
        for entry in access.permissions {
            for text in [entry.user, entry.vhost.name, entry.configure, entry.write, entry.read] { buffer.writeLongString(text) }
        }
        buffer.writeInteger(UInt32(access.limits.count))
        for entry in access.limits {
            buffer.writeLongString(entry.vhost.name)
            // -1: not set, as RabbitMQ writes "no limit".
            buffer.writeInteger(Int64(entry.limits.maxConnections ?? -1))
            buffer.writeInteger(Int64(entry.limits.maxQueues ?? -1))
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
                guard let partition = buffer.readInteger(as: UInt32.self), let flags = buffer.readInteger(as: UInt8.self) else {
                    throw Malformed(description: "a truncated queue")
                }
                var owner: ConnectionID?
                if flags & 4 != 0 {
                    guard let id = buffer.readInteger(as: UInt64.self) else { throw Malformed(description: "a truncated queue") }
                    owner = ConnectionID(id)
                }
                queues.append(QueueRecord(id: QueueID(vhost: vhost, name: name), partition: PartitionID(Int(partition)),
                                          durable: flags & 2 == 0, exclusiveOwner: owner, autoDelete: flags & 1 != 0))
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
            if version >= 2 { access = try Self.decodeAccess(&buffer) }
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(description: "\(error)")
        }
    }

    private static func decodeAccess(_ buffer: inout ByteBuffer) throws -> DurableAccess {
        var access = DurableAccess()
        for _ in 0..<(try count(&buffer)) { access.vhosts.append(VHost(try buffer.readLongStringAsString())) }
        for _ in 0..<(try count(&buffer)) {
            let name = try buffer.readLongStringAsString()
            let algorithmName = try buffer.readShortString()
            let hashText = try buffer.readLongStringAsString()
            let tags = try (0..<(try count(&buffer))).map { _ in try buffer.readLongStringAsString() }
            var hash: PasswordHash?
            if !algorithmName.isEmpty {
                guard let algorithm = PasswordHash.Algorithm(rawValue: algorithmName),
                      let decoded = PasswordHash(base64: hashText, algorithm: algorithm) else {
                    throw Malformed(description: "user '\(name)': an unreadable password hash")
                }
                hash = decoded
            }
            access.users.append(UserRecord(name: name, passwordHash: hash, tags: tags))
        }
        for _ in 0..<(try count(&buffer)) {
            let texts = try (0..<5).map { _ in try buffer.readLongStringAsString() }
            access.permissions.append(DurableAccess.Entry(user: texts[0], vhost: VHost(texts[1]), configure: texts[2],
                                                          write: texts[3], read: texts[4]))
        }
        for _ in 0..<(try count(&buffer)) {
            let vhost = VHost(try buffer.readLongStringAsString())
            guard let connections = buffer.readInteger(as: Int64.self), let queues = buffer.readInteger(as: Int64.self) else {
                throw Malformed(description: "truncated vhost limits")
            }
            access.limits.append(DurableAccess.VHostLimitsEntry(
                vhost: vhost, limits: VHostLimits(maxConnections: connections < 0 ? nil : Int(connections),
                                                  maxQueues: queues < 0 ? nil : Int(queues))))
        }
        return access
    }

    private static func count(_ buffer: inout ByteBuffer) throws(Malformed) -> Int {
        guard let count = buffer.readInteger(as: UInt32.self) else { throw Malformed(description: "truncated") }
        return Int(count)
    }
}
