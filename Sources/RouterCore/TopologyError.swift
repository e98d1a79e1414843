// A refused topology operation. Every one of them is channel-scoped: the router closes the
// channel with `code` and `text` (and the class/method of the offending method). The texts are
// RabbitMQ's, word for word, because client libraries and their users match on them.
import AMQPWire
import BrokerModel

/// Why a declare, delete, bind, unbind or publish was refused: a channel exception.
public struct TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The AMQP reply code: 403, 404, 405, 406 or 530.
    public var code: ReplyCode
    /// The reply text, e.g. "NOT_FOUND - no exchange 'x' in vhost '/'".
    public var text: String

    public init(code: ReplyCode, text: String) {
        self.code = code
        self.text = text
    }

    public var description: String { "\(code.rawValue) \(text)" }

    /// The text without its "CODE_NAME - " prefix.
    public var detail: String {
        text.firstRange(of: " - ").map { String(text[$0.upperBound...]) } ?? text
    }

    /// 403 ACCESS_REFUSED.
    public static func accessRefused(_ detail: String) -> TopologyError {
        TopologyError(code: .accessRefused, text: ReplyCode.accessRefused.replyText(detail))
    }

    /// 404 NOT_FOUND.
    public static func notFound(_ detail: String) -> TopologyError {
        TopologyError(code: .notFound, text: ReplyCode.notFound.replyText(detail))
    }

    /// 406 PRECONDITION_FAILED.
    public static func preconditionFailed(_ detail: String) -> TopologyError {
        TopologyError(code: .preconditionFailed, text: ReplyCode.preconditionFailed.replyText(detail))
    }

    // RabbitMQ's rabbit_misc:rs/1, e.g. "exchange 'x' in vhost '/'".
    static func resource(_ kind: String, _ name: String, _ vhost: VHost) -> String {
        "\(kind) '\(name)' in vhost '\(vhost.name)'"
    }

    static func noExchange(_ name: ExchangeName, _ vhost: VHost) -> TopologyError {
        notFound("no " + resource("exchange", name.name, vhost))
    }

    static func noQueue(_ name: QueueName, _ vhost: VHost) -> TopologyError {
        notFound("no " + resource("queue", name.name, vhost))
    }

    static let defaultExchange = accessRefused("operation not permitted on the default exchange")

    /// The detail of 405 RESOURCE_LOCKED for another connection's exclusive queue (RabbitMQ's words).
    public static func lockedDetail(_ queue: QueueID) -> String {
        "cannot obtain exclusive access to locked queue '\(queue.name.name)' in vhost '\(queue.vhost.name)'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration."
    }
}
