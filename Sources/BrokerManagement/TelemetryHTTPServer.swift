// The router's operator endpoint (--enable-telemetry --telemetry-port 9419): plain HTTP/1.1
// with SwiftNIO. Each request is read whole, answered, and the connection closed.
import BrokerTelemetry
import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOHTTP1
import NIOPosix

/// One request, read whole.
struct HTTPRequest: Sendable {
    var method: HTTPMethod
    var path: String
    var query: [String: String]
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// The client's address (nil on the operator socket's peer-less side).
    var peer: SocketAddress?

    init(head: HTTPRequestHead, body: ByteBuffer, peer: SocketAddress? = nil) {
        self.peer = peer
        method = head.method
        headers = head.headers
        self.body = body
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts.first ?? "/")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query[String(kv[0]).removingPercentEncoding ?? String(kv[0])] =
                    kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            }
        }
        self.query = query
    }
}

struct HTTPReply: Sendable {
    var status: HTTPResponseStatus
    var contentType: String
    var body: String
    var headers: [(String, String)] = []

    static func json(_ body: String, status: HTTPResponseStatus = .ok) -> HTTPReply {
        HTTPReply(status: status, contentType: "application/json", body: body)
    }

    static func error(_ status: HTTPResponseStatus, _ reason: String) -> HTTPReply {
        .json(JSON.object([("error", .string(status.reasonPhrase.lowercased())), ("reason", .string(reason))]).text, status: status)
    }
}

/// Answers a request; runs on the connection's event loop.
typealias HTTPResponder = @Sendable (HTTPRequest, EventLoop) -> EventLoopFuture<HTTPReply>

final class TelemetryHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: HTTPResponder
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// Bodies above this are refused (definitions imports are the largest expected).
    static let maxBody = 16 << 20

    init(respond: @escaping HTTPResponder) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            guard body.readableBytes + chunk.readableBytes <= Self.maxBody else {
                return write(.error(.payloadTooLarge, "request body too large"), context: context)
            }
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            respond(HTTPRequest(head: head, body: body, peer: context.channel.remoteAddress), context.eventLoop)
                .hop(to: context.eventLoop)
                .whenComplete { result in
                    let (handler, context) = loopBound.value
                    switch result {
                    case .success(let reply): handler.write(reply, context: context)
                    case .failure(let error): handler.write(.error(.internalServerError, "\(error)"), context: context)
                    }
                }
        }
    }

    private func write(_ reply: HTTPReply, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("Content-Type", reply.contentType), ("Connection", "close"),
                                   ("Cache-Control", "no-store")])
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        var buffer = context.channel.allocator.buffer(capacity: reply.body.utf8.count)
        buffer.writeString(reply.body)
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

public enum TelemetryHTTPServer {
    /// Serves /metrics, /health, the management API and the dashboard for `backend`.
    /// With `tls`, HTTPS.
    public static func start(group: EventLoopGroup, host: String, port: Int, tls: NIOSSLContext? = nil, backend: ManagementBackend,
                             logger: Logger) async throws -> (telemetry: Telemetry, channel: Channel) {
        let routes = TelemetryRoutes(telemetry: Telemetry(backend: backend), logger: logger)
        let channel = try await start(group: group, host: host, port: port, tls: tls) { request, loop in
            routes.respond(to: request, on: loop)
        }
        return (routes.telemetry, channel)
    }

    /// The management API for `broker ctl` on a Unix socket, without credentials: the socket
    /// is 0600 in the broker's 0700 runtime directory, so whoever can open it already is the
    /// broker's user (rabbitmqctl trusts its Erlang cookie file the same way).
    public static func startOperatorSocket(group: EventLoopGroup, path: String, telemetry: Telemetry,
                                           logger: Logger) async throws -> Channel {
        let routes = TelemetryRoutes(telemetry: telemetry, logger: logger, forOperator: true)
        let channel = try await bootstrap(group: group) { request, loop in routes.respond(to: request, on: loop) }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
        chmod(path, 0o600)
        return channel
    }

    static func start(group: EventLoopGroup, host: String, port: Int, tls: NIOSSLContext? = nil,
                      respond: @escaping HTTPResponder) async throws -> Channel {
        try await bootstrap(group: group, tls: tls, respond: respond)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port)
            .get()
    }

    private static func bootstrap(group: EventLoopGroup, tls: NIOSSLContext? = nil, respond: @escaping HTTPResponder) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(TelemetryHTTPHandler(respond: respond))
                }
            }
    }
}
