// The management HTTP API, modelled on RabbitMQ's (rabbitmq_management 3.10): the same paths,
// status codes, error bodies and field names where the concept is the same, so existing
// scripts, monitoring checks and rabbitmqadmin keep working. This file dispatches; the
// resources live in ManagementAPI+*.swift.
//
// Authorisation, as rabbit_mgmt_util: only users tagged management, policymaker, monitoring
// or administrator may use the API (others get 401 "Not management user"). Users, vhosts,
// permissions, limits, definitions and closing connections are for administrators (401 "Not
// administrator user"). Another management user may declare, delete, purge, bind and unbind
// in a vhost where it has permissions, each as the AMQP method would be checked (configure,
// read, write), and sees only those vhosts (monitoring and administrators see all).
import AMQPWire
import BrokerModel
import BrokerTelemetry
import Definitions
import Foundation
import NIOCore
import NIOHTTP1
import RouterCore

struct ManagementAPI: Sendable {
    let telemetry: Telemetry
    var backend: ManagementBackend { telemetry.backend }
    /// The caller when it is neither the operator nor an administrator: it sees and changes
    /// only what rabbit_mgmt_util lets it (ManagementAPI+Authorisation); nil sees everything.
    var viewer: Viewer?

    struct Viewer {
        let user: String
        /// Tagged monitoring: sees every vhost and connection, still closes only its own.
        let monitoring: Bool
    }

    /// One request: its path below /api/, split and percent-decoded.
    struct Call {
        var request: HTTPRequest
        var user: String
        var path: [String]
        var loop: EventLoop

        /// The segments after `pattern`'s fixed words; "*" matches any one segment.
        func match(_ method: HTTPMethod, _ pattern: String) -> [String]? {
            guard request.method == method else { return nil }
            let parts = pattern.split(separator: "/").map(String.init)
            guard parts.count == path.count else { return nil }
            var captured: [String] = []
            for (part, segment) in zip(parts, path) {
                if part == "*" { captured.append(segment) } else if part != segment { return nil }
            }
            return captured
        }

        func flag(_ name: String) -> Bool { request.query[name] == "true" }

        /// The request body, a JSON object (an empty body reads as {}); nil when it is not one.
        func body() -> JSON? {
            guard request.body.readableBytes > 0 else { return .object([]) }
            guard let body = try? JSON.parse(request.body.readableBytesView), case .object = body else { return nil }
            return body
        }
    }

    /// `operator` is the operator on this host, through the operator socket: an administrator.
    func respond(to request: HTTPRequest, user: String, operator: Bool = false, on loop: EventLoop) -> EventLoopFuture<HTTPReply> {
        var path = request.path.split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).removingPercentEncoding ?? String($0)
        }
        // "/api/x/" → ["", "api", "x", ""]: drop the leading empty part, "api" and a trailing "".
        path.removeFirst(min(2, path.count))
        if path.last == "" { path.removeLast() }
        let call = Call(request: request, user: user, path: path, loop: loop)
        let access = backend.topology.access
        guard `operator` || access.isManagementUser(user) else {
            return loop.makeSucceededFuture(Self.notAuthorised("Not management user"))
        }
        var api = self
        if !`operator`, !access.isAdministrator(user) {
            if let refusal = Self.refusal(of: call, by: user, access: access) { return loop.makeSucceededFuture(refusal) }
            api.viewer = Viewer(user: user, monitoring: access.tags(of: user).contains("monitoring"))
        }
        guard let reply = api.route(call) else { return loop.makeSucceededFuture(Self.notFound) }
        // A worker that is down or does not answer: 503, as RabbitMQ answers for a node that is down.
        return reply.recover { error in
            Self.failure(.serviceUnavailable, error: "service_unavailable", reason: "\(error)")
        }
    }

    private func route(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        if let reply = routeOverview(call) { return reply }
        if let reply = routeAccess(call) { return reply }
        if let reply = routeQueues(call) { return reply }
        if let reply = routeExchanges(call) { return reply }
        if let reply = routeBindings(call) { return reply }
        if let reply = routeConnections(call) { return reply }
        if let reply = routeDefinitions(call) { return reply }
        if let reply = routePartitions(call) { return reply }
        return nil
    }

    // MARK: Replies (RabbitMQ's status codes and error bodies)

    static func ok(_ json: JSON) -> HTTPReply { .json(json.text) }

    static let created = HTTPReply(status: .created, contentType: "application/json", body: "")
    static let noContent = HTTPReply(status: .noContent, contentType: "application/json", body: "")

    static let notFound = failure(.notFound, error: "Object Not Found", reason: "Not Found")

    static func failure(_ status: HTTPResponseStatus, error: String, reason: String) -> HTTPReply {
        .json(JSON.object([("error", .string(error)), ("reason", .string(reason))]).text, status: status)
    }

    static func badRequest(_ reason: String) -> HTTPReply { failure(.badRequest, error: "bad_request", reason: reason) }

    static func notAuthorised(_ reason: String) -> HTTPReply { failure(.unauthorized, error: "not_authorised", reason: reason) }

    static let vhostNotFound = failure(.notFound, error: "not_found", reason: "vhost_not_found")

    /// A refused AMQP operation as RabbitMQ's management plugin reports it: the detail of
    /// the reply text ("NOT_FOUND - no queue 'q' in vhost '/'" → "no queue …") with 404 for
    /// not-found, 401 for access-refused, and 400 for the rest.
    static func refused(code: ReplyCode, text: String) -> HTTPReply {
        let detail = TopologyError(code: code, text: text).detail
        switch code {
        case .notFound: return failure(.notFound, error: "not_found", reason: detail)
        case .accessRefused: return notAuthorised("Access refused.")
        default: return badRequest(detail)
        }
    }

    static func refused(_ error: TopologyError) -> HTTPReply { refused(code: error.code, text: error.text) }

    // MARK: Helpers

    /// The virtual host named in a path, when it exists.
    func vhost(_ name: String) -> VHost? {
        let vhost = VHost(name)
        return backend.topology.hasVHost(vhost) && sees(vhost) ? vhost : nil
    }

    /// Whether the caller may see `vhost`: it has permissions there, or sees everything.
    func sees(_ vhost: VHost) -> Bool {
        guard let viewer, !viewer.monitoring else { return true }
        return backend.topology.access.permissions[vhost]?[viewer.user] != nil
    }

    /// The vhosts a listing covers: all the caller sees, or the one named (nil when it does
    /// not exist or is not visible).
    func vhosts(_ name: String?) -> [VHost]? {
        guard let name else { return backend.topology.vhostNames.filter(sees) }
        return vhost(name).map { [$0] }
    }

    /// RabbitMQ names the default exchange "amq.default" in paths.
    static func exchangeName(fromPath name: String) -> ExchangeName {
        ExchangeName(name == "amq.default" ? "" : name)
    }

    /// The node name shown everywhere (RabbitMQ's "rabbit@host").
    static let nodeName: String = "broker@" + (ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost")

    func succeed(_ call: Call, _ reply: HTTPReply) -> EventLoopFuture<HTTPReply> {
        call.loop.makeSucceededFuture(reply)
    }
}
