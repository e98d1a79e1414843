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
            switch login(request) {
            case .success(let user):
                return management.respond(to: request, user: user, on: loop)
            case .failure(let refusal):
                logger.info("management login refused", metadata: ["reason": "\(refusal.reason)"])
                return loop.makeSucceededFuture(Self.refused(refusal))
            }
        default:
            return loop.makeSucceededFuture(.error(.notFound, "Object Not Found"))
        }
    }

    /// The user named by HTTP basic credentials, if the password is right and it may log in
    /// from where the request comes.
    func login(_ request: HTTPRequest) -> Result<String, LoginRefusal> {
        guard let (user, password) = credentials(request) else { return .failure(.wrongCredentials) }
        if let refusal = telemetry.backend.topology.access.refusal(user: user, password: password,
                                                          fromLoopback: request.peer?.isLoopback ?? true) {
            return .failure(refusal)
        }
        return .success(user)
    }

    /// RabbitMQ's management plugin's answers: it says why a loopback-only user is refused.
    static func refused(_ refusal: LoginRefusal) -> HTTPReply {
        guard case .wrongCredentials = refusal else {
            return .json(JSON.object([("error", "not_authorised"), ("reason", "User can only log in via localhost")]).text,
                         status: .unauthorized)
        }
        var reply = HTTPReply.json(JSON.object([("error", "not_authorized"), ("reason", "Login failed")]).text, status: .unauthorized)
        reply.headers = [("WWW-Authenticate", #"Basic realm="broker management""#)]
        return reply
    }

    private func credentials(_ request: HTTPRequest) -> (String, String)? {
        guard let header = request.headers.first(name: "Authorization"), header.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6))),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}
