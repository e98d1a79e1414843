// /api/users, /api/vhosts (changes), /api/permissions, /api/vhost-limits: users, virtual hosts,
// permissions and vhost limits as RabbitMQ's management plugin reads and changes them
// (rabbit_mgmt_wm_user, _vhost, _permission, _limit): PUT answers 201 when it created and 204 when it replaced, DELETE 204, and a
// missing object 404. Changes go into the topology snapshot (saved with it), so the next
// login, connection.open and operation of every connection sees them.
import BrokerModel
import BrokerTelemetry
import Definitions
import NIOCore
import NIOHTTP1
import RouterCore

extension ManagementAPI {
    func routeAccess(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        let access = backend.topology.access
        if call.match(.GET, "users") != nil { return succeed(call, Self.ok(.array(users()))) }
        if let c = call.match(.GET, "users/*") {
            return succeed(call, access.users[c[0]].map { Self.ok(Self.userJSON($0)) } ?? Self.notFound)
        }
        if let c = call.match(.PUT, "users/*") { return succeed(call, putUser(c[0], call)) }
        if let c = call.match(.DELETE, "users/*") {
            let deleted = changeAccess { $0.deleteUser(c[0]) } ?? false
            return succeed(call, deleted ? Self.noContent : Self.notFound)
        }
        if let c = call.match(.GET, "users/*/permissions") {
            guard access.users[c[0]] != nil else { return succeed(call, Self.notFound) }
            return succeed(call, Self.ok(.array(permissions().filter { $0["user"]?.stringValue == c[0] })))
        }
        if let c = call.match(.PUT, "vhosts/*") {
            let created = (try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in t.addVHost(VHost(c[0])) }) ?? false
            return succeed(call, created ? Self.created : Self.noContent)
        }
        if let c = call.match(.DELETE, "vhosts/*") { return deleteVHost(c[0], call) }
        if let c = call.match(.GET, "vhosts/*/permissions") {
            guard vhost(c[0]) != nil else { return succeed(call, Self.vhostNotFound) }
            return succeed(call, Self.ok(.array(permissions().filter { $0["vhost"]?.stringValue == c[0] })))
        }
        if call.match(.GET, "permissions") != nil { return succeed(call, Self.ok(.array(permissions()))) }
        if let c = call.match(.GET, "permissions/*/*") {
            let found = permissions().first { $0["vhost"]?.stringValue == c[0] && $0["user"]?.stringValue == c[1] }
            return succeed(call, found.map(Self.ok) ?? Self.notFound)
        }
        if let c = call.match(.PUT, "permissions/*/*") { return succeed(call, putPermissions(vhost: c[0], user: c[1], call)) }
        if let c = call.match(.DELETE, "permissions/*/*") {
            let cleared = changeAccess { $0.clearPermissions(user: c[1], vhost: VHost(c[0])) } ?? false
            return succeed(call, cleared ? Self.noContent : Self.notFound)
        }
        if call.match(.GET, "vhost-limits") != nil { return succeed(call, Self.ok(.array(limits(nil)))) }
        if let c = call.match(.GET, "vhost-limits/*") {
            guard vhost(c[0]) != nil else { return succeed(call, Self.vhostNotFound) }
            return succeed(call, Self.ok(.array(limits(VHost(c[0])))))
        }
        if let c = call.match(.PUT, "vhost-limits/*/*") { return succeed(call, putLimit(vhost: c[0], name: c[1], call)) }
        if let c = call.match(.DELETE, "vhost-limits/*/*") {
            guard let name = VHostLimits.Name(rawValue: c[1]) else { return succeed(call, Self.badRequest("unknown limit '\(c[1])'")) }
            let done = changeAccess { $0.setLimit(name, nil, vhost: VHost(c[0])) } ?? false
            return succeed(call, done ? Self.noContent : Self.vhostNotFound)
        }
        return nil
    }

    /// RabbitMQ's form: one object per vhost with limits, {"vhost": …, "value": {"max-connections": n}}.
    private func limits(_ only: VHost?) -> [JSON] {
        backend.topology.access.limits.sorted { $0.key.name < $1.key.name }.filter { only == nil || $0.key == only }.map { vhost, limits in
            let values: [(key: String, value: JSON)] = VHostLimits.Name.allCases.compactMap { name in
                limits[name].map { (key: name.rawValue, value: JSON.int($0)) }
            }
            return ["vhost": .string(vhost.name), "value": .object(values)]
        }
    }

    /// A negative value lifts the limit, as in RabbitMQ.
    private func putLimit(vhost name: String, name limit: String, _ call: Call) -> HTTPReply {
        guard let vhost = vhost(name) else { return Self.vhostNotFound }
        guard let limitName = VHostLimits.Name(rawValue: limit) else { return Self.badRequest("unknown limit '\(limit)'") }
        guard let value = call.body()?["value"]?.intValue else { return Self.badRequest("value must be an integer") }
        _ = changeAccess { $0.setLimit(limitName, value < 0 ? nil : value, vhost: vhost) }
        return Self.noContent
    }

    /// Applies a change to the users, vhosts and permissions of the topology.
    func changeAccess<T>(_ change: @escaping @Sendable (inout AccessControl) -> T) -> T? {
        try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in change(&t.access) }
    }

    func users() -> [JSON] {
        backend.topology.access.users.values.sorted { $0.name < $1.name }.map(Self.userJSON)
    }

    static func userJSON(_ user: UserRecord) -> JSON {
        ["name": .string(user.name), "password_hash": .string(user.passwordHash?.base64 ?? ""),
         "hashing_algorithm": .string((user.passwordHash?.algorithm ?? .sha256).rawValue),
         "tags": .array(user.tags.map(JSON.string)), "limits": [:]]
    }

    func permissions() -> [JSON] {
        backend.topology.access.permissionList.map { entry in
            ["user": .string(entry.user), "vhost": .string(entry.vhost.name), "configure": .string(entry.entry.configure.text),
             "write": .string(entry.entry.write.text), "read": .string(entry.entry.read.text)]
        }
    }

    private func putUser(_ name: String, _ call: Call) -> HTTPReply {
        guard let body = call.body() else { return Self.badRequest("failed_to_parse_json") }
        do {
            let user = try Definitions.user(named: name, body)
            return changeAccess { $0.putUser(user) } == true ? Self.created : Self.noContent
        } catch {
            return Self.badRequest(error.reason)
        }
    }

    private func putPermissions(vhost name: String, user: String, _ call: Call) -> HTTPReply {
        guard let vhost = vhost(name) else { return Self.vhostNotFound }
        guard backend.topology.access.users[user] != nil else { return Self.badRequest("user '\(user)' does not exist") }
        guard let body = call.body() else { return Self.badRequest("failed_to_parse_json") }
        do {
            let entry = try Definitions.permissions(body)
            switch changeAccess({ $0.setPermissions(entry, user: user, vhost: vhost) }) {
            case true??: return Self.created
            case false??: return Self.noContent
            default: return Self.badRequest("user '\(user)' or vhost '\(vhost.name)' does not exist")
            }
        } catch {
            return Self.badRequest(error.reason)
        }
    }

    /// Deletes the vhost's queues on their workers, then the vhost (its exchanges, bindings
    /// and permissions), and closes its connections with 320, as RabbitMQ does.
    private func deleteVHost(_ name: String, _ call: Call) -> EventLoopFuture<HTTPReply> {
        guard let vhost = vhost(name) else { return succeed(call, Self.notFound) }
        let queues = backend.topology.queues(in: vhost).map(\.id)
        let deletions = queues.map { queue in
            telemetry.controlRequest(to: backend.partition(of: queue)) {
                .deleteQueue($0, channel: ChannelNumber(0), queue: queue, ifUnused: false, ifEmpty: false)
            }
        }
        return EventLoopFuture.whenAllComplete(deletions, on: call.loop).flatMap { [backend, telemetry] _ in
            let removed = (try? backend.updateTopology { (t: inout Topology) throws(TopologyError) in t.deleteVHost(vhost) }) ?? []
            // Queues declared while the first deletes were under way go too.
            for queue in removed where !queues.contains(queue) {
                _ = telemetry.controlRequest(to: backend.partition(of: queue)) {
                    .deleteQueue($0, channel: ChannelNumber(0), queue: queue, ifUnused: false, ifEmpty: false)
                }
            }
            return backend.connections().hop(to: call.loop).flatMap { connections in
                let closes = connections.filter { $0.vhost == vhost.name }.map {
                    telemetry.closeConnection(named: $0.name, reason: "vhost '\(vhost.name)' is deleted")
                }
                return EventLoopFuture.whenAllComplete(closes, on: call.loop).map { _ in Self.noContent }
            }
        }
    }
}
