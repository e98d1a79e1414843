/// An AMQP reply code, as sent in `connection.close`, `channel.close` and `basic.return`.
///
/// The constants are the spec's (`<constant class="soft-error|hard-error">` in
/// amqp0-9-1.xml) plus RabbitMQ's `no-route` (312). Soft errors close the channel, hard
/// errors close the connection (spec 1.2: "reply-code").
public struct ReplyCode: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The numeric code on the wire.
    public var rawValue: UInt16

    /// Wraps a numeric reply code.
    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// A code written as its number, as the spec lists them (`406`).
    @inlinable
    public init(integerLiteral value: UInt16) { self.rawValue = value }

    /// 200: the method completed successfully.
    public static let success = ReplyCode(rawValue: 200)
    /// 311 (channel): the client tried to transfer content larger than the server accepts.
    public static let contentTooLarge = ReplyCode(rawValue: 311)
    /// 312: a mandatory message could not be routed to any queue (RabbitMQ `basic.return`).
    public static let noRoute = ReplyCode(rawValue: 312)
    /// 313: an immediate message had no consumer to deliver to (`basic.return`).
    public static let noConsumers = ReplyCode(rawValue: 313)
    /// 320 (connection): an operator closed the connection.
    public static let connectionForced = ReplyCode(rawValue: 320)
    /// 402 (connection): the client asked for an invalid virtual host path.
    public static let invalidPath = ReplyCode(rawValue: 402)
    /// 403 (channel): the client lacks the permission for the operation.
    public static let accessRefused = ReplyCode(rawValue: 403)
    /// 404 (channel): the named entity (queue, exchange) does not exist.
    public static let notFound = ReplyCode(rawValue: 404)
    /// 405 (channel): the entity is locked by another connection (exclusive queue).
    public static let resourceLocked = ReplyCode(rawValue: 405)
    /// 406 (channel): a precondition failed, e.g. a redeclare with other arguments or an
    /// unknown delivery tag.
    public static let preconditionFailed = ReplyCode(rawValue: 406)
    /// 501 (connection): a malformed frame that could not be decoded.
    public static let frameError = ReplyCode(rawValue: 501)
    /// 502 (connection): a frame with illegal values for one or more fields.
    public static let syntaxError = ReplyCode(rawValue: 502)
    /// 503 (connection): a method not valid in the current state.
    public static let commandInvalid = ReplyCode(rawValue: 503)
    /// 504 (connection): a channel was used before it was opened, or reopened.
    public static let channelError = ReplyCode(rawValue: 504)
    /// 505 (connection): a frame of an unexpected type (e.g. a body frame with no content
    /// in progress).
    public static let unexpectedFrame = ReplyCode(rawValue: 505)
    /// 506 (connection): the server ran out of a resource.
    public static let resourceError = ReplyCode(rawValue: 506)
    /// 530 (connection): the operation is not allowed, e.g. a vhost the user may not use.
    public static let notAllowed = ReplyCode(rawValue: 530)
    /// 540 (connection): the functionality is not implemented by the server.
    public static let notImplemented = ReplyCode(rawValue: 540)
    /// 541 (connection): an internal error in the server.
    public static let internalError = ReplyCode(rawValue: 541)

    /// Whether the spec classes the code as a hard error, i.e. one that closes the whole
    /// connection (`connection.close`) rather than only the channel.
    @inlinable
    public var isHardError: Bool {
        switch rawValue {
        case 320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541: return true
        default: return false
        }
    }

    /// RabbitMQ's upper-snake name of the code, used as the prefix of reply texts:
    /// `"NOT_FOUND - no queue 'x' in vhost '/'"`. Unknown codes give their number.
    public var text: String {
        switch rawValue {
        case 200: return "OK"
        case 311: return "CONTENT_TOO_LARGE"
        case 312: return "NO_ROUTE"
        case 313: return "NO_CONSUMERS"
        case 320: return "CONNECTION_FORCED"
        case 402: return "INVALID_PATH"
        case 403: return "ACCESS_REFUSED"
        case 404: return "NOT_FOUND"
        case 405: return "RESOURCE_LOCKED"
        case 406: return "PRECONDITION_FAILED"
        case 501: return "FRAME_ERROR"
        case 502: return "SYNTAX_ERROR"
        case 503: return "COMMAND_INVALID"
        case 504: return "CHANNEL_ERROR"
        case 505: return "UNEXPECTED_FRAME"
        case 506: return "RESOURCE_ERROR"
        case 530: return "NOT_ALLOWED"
        case 540: return "NOT_IMPLEMENTED"
        case 541: return "INTERNAL_ERROR"
        default: return String(rawValue)
        }
    }

    /// Formats a reply text the way RabbitMQ does: `"<TEXT> - <detail>"`.
    public func replyText(_ detail: String) -> String {
        "\(text) - \(detail)"
    }

    public var description: String { "\(rawValue) \(text)" }
}
