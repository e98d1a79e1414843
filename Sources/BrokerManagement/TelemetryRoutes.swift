// What the telemetry endpoint serves: /metrics (Prometheus) and /health without credentials,
// as monitoring systems expect; the management API (/api/…) with HTTP basic auth against
// the broker's users; and the dashboard page. On the operator socket (`broker ctl`) the
// management API needs no credentials: whoever can open the socket is the operator.
import BrokerTelemetry
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RouterCore

struct TelemetryRoutes: Sendable {
    let telemetry: Telemetry
    let management: ManagementAPI
    let logger: Logger
    /// Serving the operator socket.
    let forOperator: Bool

    init(telemetry: Telemetry, logger: Logger, forOperator: Bool = false) {
        self.telemetry = telemetry
        self.management = ManagementAPI(telemetry: telemetry)
        self.logger = logger
        self.forOperator = forOperator
    }

    /// The name the operator socket's calls run under.
    static let operatorName = "broker-ctl"

    func respond(to request: HTTPRequest, on loop: EventLoop) -> EventLoopFuture<HTTPReply> {
        switch (request.method, request.path) {
        case (.GET, "/metrics"):
            return telemetry.metrics().map {
                HTTPReply(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: $0)
            }
        case (.GET, "/health"):
            return telemetry.health().map { .json($0.body, status: HTTPResponseStatus(statusCode: $0.status)) }
        case (.GET, "/"), (.GET, "/dashboard"), (.GET, "/dashboard.css"), (.GET, "/dashboard.js"):
            return loop.makeSucceededFuture(DashboardPage.file(at: request.path) ?? .error(.notFound, "Object Not Found"))
        case (_, let path) where path.hasPrefix("/api/") && forOperator:
            return management.respond(to: request, user: Self.operatorName, operator: true, on: loop)
        case (_, let path) where path.hasPrefix("/api/"):
            guard let user = authenticate(request) else {
                if let name = loopbackUserFromAfar(request) {
                    // RabbitMQ's management plugin says why, as its log does.
                    logger.info("management login refused", metadata: ["user": "\(name)", "reason": "can only log in via localhost"])
                    return loop.makeSucceededFuture(.json(JSON.object([("error", "not_authorised"),
                                                                       ("reason", "User can only log in via localhost")]).text,
                                                          status: .unauthorized))
                }
                // RabbitMQ's answer to missing or wrong credentials.
                var reply = HTTPReply.json(JSON.object([("error", "not_authorized"), ("reason", "Login failed")]).text, status: .unauthorized)
                reply.headers = [("WWW-Authenticate", #"Basic realm="broker management""#)]
                return loop.makeSucceededFuture(reply)
            }
            return management.respond(to: request, user: user, on: loop)
        default:
            return loop.makeSucceededFuture(.error(.notFound, "Object Not Found"))
        }
    }

    /// A loopback-only user (guest) with the right password, from another host.
    private func loopbackUserFromAfar(_ request: HTTPRequest) -> String? {
        guard let (user, password) = credentials(request), telemetry.backend.users.authenticate(user, password),
              telemetry.backend.users.loopbackUsers.contains(user), let peer = request.peer, !peer.isLoopback else { return nil }
        return user
    }

    /// The user named by valid HTTP basic credentials, if it may log in from where it is.
    func authenticate(_ request: HTTPRequest) -> String? {
        guard let (user, password) = credentials(request), telemetry.backend.users.authenticate(user, password) else { return nil }
        if telemetry.backend.users.loopbackUsers.contains(user), let peer = request.peer, !peer.isLoopback { return nil }
        return user
    }

    private func credentials(_ request: HTTPRequest) -> (String, String)? {
        guard let header = request.headers.first(name: "Authorization"), header.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6))),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}
