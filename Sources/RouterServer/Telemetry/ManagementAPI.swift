// The management HTTP API, modelled on RabbitMQ's (rabbitmq_management): the same paths and
// field names where the concept is the same, so existing scripts and monitoring checks keep
// working. Reads need any valid user; changes need the administrator tag.
import Foundation
import NIOCore
import NIOHTTP1

struct ManagementAPI: Sendable {
    let telemetry: Telemetry

    func respond(to request: HTTPRequest, user: String, on loop: EventLoop) -> EventLoopFuture<HTTPReply> {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true).map {
            String($0).removingPercentEncoding ?? String($0)
        }
        switch (request.method, segments) {
        case (.GET, ["api", "whoami"]):
            let tags = telemetry.context.users.tags[user] ?? []
            return loop.makeSucceededFuture(.json(#"{"name":\#(JSONText.string(user)),"tags":\#(JSONText.string(tags.joined(separator: ",")))}"#))
        case (.GET, ["api", "profile"]):
            let seconds = min(60, max(1, Int(request.query["seconds"] ?? "") ?? 5))
            return telemetry.profile(seconds: seconds).map { .json($0) }
        default:
            return loop.makeSucceededFuture(.error(.notFound, "Object Not Found"))
        }
    }
}
