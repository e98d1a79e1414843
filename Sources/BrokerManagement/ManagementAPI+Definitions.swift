// /api/definitions: export (GET) and import (POST) of the topology, in RabbitMQ's format, so
// a definitions file moves between the broker and RabbitMQ.
//
// Export: users (no password hashes: passwords are not kept hashed yet), the vhost "/",
// full permissions for every user, no parameters or policies, and the queues, exchanges and
// bindings a restart would keep the shape of: not exclusive queues (nor their bindings),
// not the default exchange or the amq.* ones.
//
// Import: exchanges, then queues, then bindings. As in RabbitMQ, objects that exist already
// are left as they are. Differences from RabbitMQ: users, vhosts, permissions, parameters
// and policies are accepted and ignored (users come from the command line; there is one
// vhost and no policies yet), and objects in a vhost other than "/" are refused with 400.
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
            guard let vhost = vhost(name) else { return .failure(Refused(Self.badRequest("vhost '\(name)' does not exist (the broker has only '/')"))) }
            return .success(vhost)
        }
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
