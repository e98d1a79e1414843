// /api/definitions: export (GET) and import (POST) of the topology, in RabbitMQ's format, so
// a definitions file moves between the broker and RabbitMQ.
//
// Export: users with their password hashes (RabbitMQ's format), vhosts, permissions, no
// parameters or policies, and the queues, exchanges and bindings a restart would keep the
// shape of: not exclusive queues (nor their bindings), not the default exchange or the amq.*
// ones.
//
// Import: vhosts, users (password_hash and hashing_algorithm as RabbitMQ exports them, or a
// plain `password`), permissions, then exchanges, queues and bindings. As in RabbitMQ,
// users and permissions in the file replace those of the same name, and exchanges and queues
// that exist already are left as they are. Parameters and policies are accepted and ignored
// (there are no policies yet); an object in a vhost neither there nor in the file is refused
// with 400.
import AMQPWire
import BrokerModel
import BrokerTelemetry
import NIOCore
import NIOHTTP1
import RouterCore

extension ManagementAPI {
    func routeDefinitions(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        if call.match(.GET, "definitions") != nil { return exportDefinitions(nil) }
        if let c = call.match(.GET, "definitions/*") { return exportDefinitions(c[0]) }
        if call.match(.POST, "definitions") != nil { return importDefinitions(call, defaultVHost: nil) }
        if let c = call.match(.POST, "definitions/*") { return importDefinitions(call, defaultVHost: c[0]) }
        return nil
    }

    private func exportDefinitions(_ vhostName: String?) -> EventLoopFuture<HTTPReply> {
        queueFigures().map { [self] figures in
            guard let vhosts = vhosts(vhostName) else { return Self.notFound }
            let topology = backend.topology
            // A per-vhost export leaves out the vhost fields, as RabbitMQ's does.
            func tagged(_ fields: [(key: String, value: JSON)], _ vhost: VHost) -> JSON {
                guard vhostName == nil else { return .object(fields) }
                var fields = fields
                fields.insert((key: "vhost", value: .string(vhost.name)), at: 1)
                return .object(fields)
            }
            var queues: [JSON] = [], exchanges: [JSON] = [], bindings: [JSON] = []
            for vhost in vhosts {
                let shared = topology.queues(in: vhost).filter { $0.exclusiveOwner == nil }
                let sharedNames = Set(shared.map(\.id.name))
                queues += shared.map { record in
                    tagged([("name", .string(record.id.name.name)), ("durable", .bool(record.durable)),
                            ("auto_delete", .bool(record.autoDelete)), ("arguments", JSON(figures.arguments(of: record.id)))], vhost)
                }
                exchanges += topology.exchanges(in: vhost).filter { !$0.name.name.isEmpty && !$0.name.name.hasPrefix("amq.") }.map { e in
                    tagged([("name", .string(e.name.name)), ("type", .string(e.declaredType)), ("durable", .bool(e.durable)),
                            ("auto_delete", .bool(e.autoDelete)), ("internal", .bool(e.internal)), ("arguments", JSON(e.arguments))], vhost)
                }
                bindings += topology.bindings(in: vhost).filter { $0.queue.map(sharedNames.contains) ?? true }.map { binding in
                    guard case .object(let fields) = Self.bindingJSON(binding, in: vhost, withKey: false) else { return .null }
                    return tagged(fields.filter { $0.key != "vhost" }, vhost)
                }
            }
            var document: [(key: String, value: JSON)] = [
                ("rabbit_version", .string(BrokerVersion.rabbitmq)), ("rabbitmq_version", .string(BrokerVersion.rabbitmq)),
                ("product_name", "broker"), ("product_version", .string(BrokerVersion.string)),
            ]
            if vhostName == nil {
                document += [
                    ("users", .array(users())), ("vhosts", .array(vhosts.map { ["name": .string($0.name)] })),
                    ("permissions", .array(permissions())), ("topic_permissions", []), ("global_parameters", []),
                ]
            }
            document += [("parameters", []), ("policies", []), ("queues", .array(queues)), ("exchanges", .array(exchanges)),
                         ("bindings", .array(bindings))]
            return Self.ok(.object(document))
        }
    }

    private func importDefinitions(_ call: Call, defaultVHost: String?) -> EventLoopFuture<HTTPReply> {
        guard let document = call.body(), case .object = document else {
            return succeed(call, Self.badRequest("failed_to_parse_json"))
        }
        if let name = defaultVHost, vhost(name) == nil { return succeed(call, Self.notFound) }
        func vhostOf(_ item: JSON) -> Result<VHost, Refused> {
            let name = item["vhost"]?.stringValue ?? defaultVHost ?? "/"
            guard let vhost = vhost(name) else { return .failure(Refused(Self.badRequest("vhost '\(name)' does not exist"))) }
            return .success(vhost)
        }
        if defaultVHost == nil, let refused = importAccess(document) { return succeed(call, refused.reply) }
        // Exchanges first: bindings need them.
        for item in document["exchanges"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { return succeed(call, Self.badRequest("an exchange without a name")) }
            let vhost: VHost
            switch vhostOf(item) {
            case .failure(let refused): return succeed(call, refused.reply)
            case .success(let found): vhost = found
            }
            guard backend.topology.exchange(ExchangeName(name), in: vhost) == nil else { continue }
            switch Self.exchangeDefinition(ExchangeName(name), item) {
            case .failure(let refused):
                return succeed(call, refused.reply)
            case .success(let definition):
                let reply = declare(definition, in: vhost)
                guard reply.status == .created || reply.status == .noContent else { return succeed(call, reply) }
            }
        }
        var declared: [EventLoopFuture<HTTPReply>] = []
        for item in document["queues"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { return succeed(call, Self.badRequest("a queue without a name")) }
            let vhost: VHost
            switch vhostOf(item) {
            case .failure(let refused): return succeed(call, refused.reply)
            case .success(let found): vhost = found
            }
            let queue = QueueID(vhost: vhost, name: QueueName(name))
            guard backend.topology.queue(queue) == nil else { continue }
            guard let durable = (item["durable"] ?? false).flagValue, let autoDelete = (item["auto_delete"] ?? false).flagValue,
                  let arguments = (item["arguments"] ?? .null).fieldTable else {
                return succeed(call, Self.badRequest("queue '\(name)': durable, auto_delete or arguments malformed"))
            }
            declared.append(declareQueue(queue, durable: durable, autoDelete: autoDelete, arguments: arguments, on: call.loop))
        }
        let bindings = document["bindings"]?.arrayValue ?? []
        return EventLoopFuture.whenAllSucceed(declared, on: call.loop).map { [self] replies in
            if let refusal = replies.first(where: { $0.status != .created && $0.status != .noContent }) { return refusal }
            for item in bindings {
                guard let source = item["source"]?.stringValue, let destination = item["destination"]?.stringValue,
                      let arguments = (item["arguments"] ?? .null).fieldTable else {
                    return Self.badRequest("a binding without source, destination or arguments")
                }
                let vhost: VHost
                switch vhostOf(item) {
                case .failure(let refused): return refused.reply
                case .success(let found): vhost = found
                }
                let target: BindingDestination = item["destination_type"]?.stringValue == "exchange"
                    ? .exchange(ExchangeName(destination)) : .queue(QueueName(destination))
                let binding = Binding(source: ExchangeName(source), destination: target,
                                      routingKey: item["routing_key"]?.stringValue ?? "", arguments: arguments)
                if let refusal = create(binding, in: vhost) { return refusal }
            }
            return Self.noContent
        }
    }
}

extension ManagementAPI {
    /// The vhosts, users and permissions of a whole-broker definitions file, checked first and
    /// then applied in one change; nil when done.
    private func importAccess(_ document: JSON) -> Refused? {
        var vhosts: [VHost] = []
        for item in document["vhosts"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { return Refused(Self.badRequest("a vhost without a name")) }
            vhosts.append(VHost(name))
        }
        var users: [UserRecord] = []
        for item in document["users"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { return Refused(Self.badRequest("a user without a name")) }
            switch Self.userRecord(named: name, item) {
            case .failure(let refused): return refused
            case .success(let user): users.append(user)
            }
        }
        var permissions: [(user: String, vhost: VHost, entry: VHostPermissions)] = []
        for item in document["permissions"]?.arrayValue ?? [] {
            guard let user = item["user"]?.stringValue, let vhost = item["vhost"]?.stringValue else {
                return Refused(Self.badRequest("a permission without user or vhost"))
            }
            switch Self.permissionEntry(item) {
            case .failure(let refused): return refused
            case .success(let entry): permissions.append((user, VHost(vhost), entry))
            }
        }
        let known = Set(users.map(\.name)).union(backend.topology.access.users.keys)
        let knownVHosts = Set(vhosts).union(backend.topology.vhostNames)
        if let orphan = permissions.first(where: { !known.contains($0.user) || !knownVHosts.contains($0.vhost) }) {
            return Refused(Self.badRequest("permissions of user '\(orphan.user)' in vhost '\(orphan.vhost.name)': no such user or vhost"))
        }
        _ = try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in
            for vhost in vhosts { t.addVHost(vhost) }
            for user in users { t.access.putUser(user) }
            for p in permissions { t.access.setPermissions(p.entry, user: p.user, vhost: p.vhost) }
        }
        return nil
    }
}
