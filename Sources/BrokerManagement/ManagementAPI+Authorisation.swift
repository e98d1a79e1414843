// What a management user who is not an administrator may change (rabbit_mgmt_util's
// is_authorized_vhost, then the AMQP permission checks the plugin's internal channel meets):
// queues, exchanges and bindings in a vhost where it has permissions, each checked as the AMQP
// method is. Everything else that changes state is for administrators, and so are the users,
// permissions and definitions, even to read.
import BrokerModel
import NIOHTTP1
import RouterCore

extension ManagementAPI {
    /// The 401 for `user` (a management user, not an administrator), or nil when allowed.
    static func refusal(of call: Call, by user: String, access: AccessControl) -> HTTPReply? {
        let path = call.path
        if ["users", "permissions", "definitions"].contains(path.first) || path.last == "permissions" {
            return notAuthorised("Not administrator user")
        }
        guard call.request.method != .GET else { return nil }
        // Its own connections only: the list it sees is filtered (ManagementAPI+Connections).
        if call.match(.DELETE, "connections/*") != nil { return nil }
        guard let (vhost, checks) = permissionsNeeded(call) else { return notAuthorised("Not administrator user") }
        guard access.permissions[vhost]?[user] != nil else { return notAuthorised("User not authorised to access virtual host") }
        for (permission, kind, name) in checks {
            if let refused = access.refusal(user, permission, kind, name, in: vhost) { return notAuthorised(refused.detail) }
        }
        return nil
    }

    /// The vhost and the AMQP permissions a change needs, as its AMQP method would; nil for
    /// changes that are not a vhost's queues, exchanges or bindings.
    private static func permissionsNeeded(_ call: Call) -> (VHost, [(Permission, AccessControl.ResourceKind, String)])? {
        if let c = call.match(.PUT, "queues/*/*") ?? call.match(.DELETE, "queues/*/*") {
            return (VHost(c[0]), [(.configure, .queue, c[1])])
        }
        if let c = call.match(.DELETE, "queues/*/*/contents") { return (VHost(c[0]), [(.read, .queue, c[1])]) }
        if let c = call.match(.PUT, "exchanges/*/*") ?? call.match(.DELETE, "exchanges/*/*") {
            return (VHost(c[0]), [(.configure, .exchange, exchangeName(fromPath: c[1]).name)])
        }
        // bindings/V/e/SOURCE/q|e/DESTINATION[/props]: write on the destination, read on the source.
        if let c = call.match(.POST, "bindings/*/e/*/*/*") ?? call.match(.DELETE, "bindings/*/e/*/*/*/*"), c[2] == "q" || c[2] == "e" {
            let destination: AccessControl.ResourceKind = c[2] == "q" ? .queue : .exchange
            let name = c[2] == "q" ? c[3] : exchangeName(fromPath: c[3]).name
            return (VHost(c[0]), [(.write, destination, name), (.read, .exchange, exchangeName(fromPath: c[1]).name)])
        }
        return nil
    }
}
