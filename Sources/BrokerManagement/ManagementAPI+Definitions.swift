// /api/definitions: export (GET) and import (POST) of the topology, in RabbitMQ's format, so
// a definitions file moves between the broker and RabbitMQ.
//
// Export: users with their password hashes (RabbitMQ's format), vhosts, permissions, no
// parameters or policies, and the queues, exchanges and bindings a restart would keep the
// shape of: not exclusive queues (nor their bindings), not the default exchange or the amq.*
// ones.
//
// Import: the document is read and checked whole first (`Definitions`), so a malformed one
// changes nothing; then vhosts, users (password_hash and hashing_algorithm as RabbitMQ exports
// them, or a plain `password`), permissions, exchanges, queues and bindings. As in RabbitMQ,
// users and permissions in the file replace those of the same name, and exchanges and queues
// that exist already are left as they are. Parameters and policies are accepted and ignored
// (there are no policies yet); an object in a vhost neither there nor in the file is refused
// with 400.
import AMQPWire
import BrokerModel
import BrokerTelemetry
import Definitions
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
        guard let document = call.body() else { return succeed(call, Self.badRequest("failed_to_parse_json")) }
        if let name = defaultVHost, vhost(name) == nil { return succeed(call, Self.notFound) }
        // Read and check it all before applying any of it.
        let definitions: Definitions
        do {
            definitions = try Definitions(parsing: document, defaultVHost: defaultVHost)
        } catch {
            return succeed(call, Self.badRequest(error.reason))
        }
        let known = Set(definitions.vhosts).union(backend.topology.vhostNames)
        if let missing = definitions.namedVHosts.subtracting(known).sorted(by: { $0.name < $1.name }).first {
            return succeed(call, Self.badRequest("vhost '\(missing.name)' does not exist"))
        }
        let users = Set(definitions.users.map(\.name)).union(backend.topology.access.users.keys)
        if let orphan = definitions.permissions.first(where: { !users.contains($0.user) }) {
            return succeed(call, Self.badRequest("permissions of user '\(orphan.user)' in vhost '\(orphan.vhost.name)': no such user"))
        }
        _ = try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in
            for vhost in definitions.vhosts { t.addVHost(vhost) }
            for user in definitions.users { t.access.putUser(user) }
            for p in definitions.permissions { _ = t.access.setPermissions(p.entry, user: p.user, vhost: p.vhost) }
        }
        // Exchanges first: bindings need them.
        for (vhost, definition) in definitions.exchanges where backend.topology.exchange(definition.name, in: vhost) == nil {
            let reply = declare(definition, in: vhost)
            guard reply.status == .created || reply.status == .noContent else { return succeed(call, reply) }
        }
        let declared = definitions.queues.filter { backend.topology.queue($0.id) == nil }.map { queue in
            declareQueue(queue.id, durable: queue.durable, autoDelete: queue.autoDelete, arguments: queue.arguments, on: call.loop)
        }
        return EventLoopFuture.whenAllSucceed(declared, on: call.loop).map { [self] replies in
            if let refusal = replies.first(where: { $0.status != .created && $0.status != .noContent }) { return refusal }
            for (vhost, binding) in definitions.bindings {
                if let refusal = create(binding, in: vhost) { return refusal }
            }
            return Self.noContent
        }
    }
}
