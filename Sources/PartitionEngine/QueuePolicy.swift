// The queue arguments that change how a queue behaves, parsed once at declare:
// message TTL, queue expiry, length limits with their overflow behaviour, and
// dead-lettering, priorities, single active consumer and the consumer timeout (RabbitMQ's
// x-message-ttl, x-expires, x-max-length, x-max-length-bytes, x-overflow,
// x-dead-letter-exchange, x-dead-letter-routing-key, x-max-priority,
// x-single-active-consumer, x-consumer-timeout). Invalid values are the 406 RabbitMQ gives
// (rabbit_amqqueue:check_*_arg).
import BrokerModel
import NIOCore

struct QueuePolicy {
    enum Overflow: String {
        case dropHead = "drop-head"
        case rejectPublish = "reject-publish"
        case rejectPublishDeadLetter = "reject-publish-dlx"
    }

    /// Milliseconds a message may wait in the queue.
    var messageTTL: UInt64?
    /// Milliseconds the queue may stay unused before it deletes itself.
    var expires: UInt64?
    var maxLength: Int?
    var maxLengthBytes: Int?
    var overflow: Overflow = .dropHead
    var deadLetterExchange: String?
    var deadLetterRoutingKey: String?
    /// The highest message priority the queue distinguishes (nil: not a priority queue).
    var maxPriority: UInt8?
    var singleActiveConsumer = false
    /// Milliseconds a delivery may stay unacked before its channel is closed.
    var consumerTimeout: UInt64?

    /// Whether the worker must tick this queue's clock (expiry of messages or of the queue).
    var isTimed: Bool { messageTTL != nil || expires != nil }

    static let none = QueuePolicy()

    /// Parses the declare's arguments; a value of the wrong type or range is a 406.
    static func parse(_ arguments: ByteBuffer, queue: QueueID) -> Result<QueuePolicy, ChannelError> {
        guard let entries = QueueArguments.entries(of: arguments) else { return .success(.none) }
        var policy = QueuePolicy()
        for entry in entries {
            switch entry.key {
            case "x-message-ttl":
                guard let value = QueueArguments.integer(entry) else { return .failure(.invalidArgument(queue, entry, "unacceptable_type")) }
                guard value >= 0 else { return .failure(.invalidArgument(queue, entry, "value_negative")) }
                policy.messageTTL = UInt64(value)
            case "x-expires":
                guard let value = QueueArguments.integer(entry) else { return .failure(.invalidArgument(queue, entry, "unacceptable_type")) }
                guard value > 0 else { return .failure(.invalidArgument(queue, entry, "value_zero_or_less")) }
                policy.expires = UInt64(value)
            case "x-max-length", "x-max-length-bytes":
                guard let value = QueueArguments.integer(entry) else { return .failure(.invalidArgument(queue, entry, "unacceptable_type")) }
                guard value >= 0 else { return .failure(.invalidArgument(queue, entry, "value_negative")) }
                if entry.key == "x-max-length" { policy.maxLength = Int(value) } else { policy.maxLengthBytes = Int(value) }
            case "x-overflow":
                guard let text = QueueArguments.string(entry), let overflow = Overflow(rawValue: text) else {
                    return .failure(.invalidArgument(queue, entry, "invalid_overflow"))
                }
                policy.overflow = overflow
            case "x-dead-letter-exchange":
                guard let text = QueueArguments.string(entry) else { return .failure(.invalidArgument(queue, entry, "unacceptable_type")) }
                policy.deadLetterExchange = text
            case "x-dead-letter-routing-key":
                guard let text = QueueArguments.string(entry) else { return .failure(.invalidArgument(queue, entry, "unacceptable_type")) }
                policy.deadLetterRoutingKey = text
            case "x-max-priority":
                guard let value = QueueArguments.integer(entry) else {
                    return .failure(.invalidArgument(queue, entry, detail: "\"expected integer, got \(QueueArguments.typeName(entry))\""))
                }
                guard value >= 0 else { return .failure(.invalidArgument(queue, entry, "value_negative")) }
                guard value <= 255 else { return .failure(.invalidArgument(queue, entry, "max_value_exceeded")) }
                policy.maxPriority = UInt8(value)
            case "x-single-active-consumer":
                guard entry.type == UInt8(ascii: "t") else {
                    return .failure(.invalidArgument(queue, entry, detail: "{unacceptable_type,\(QueueArguments.typeName(entry))}"))
                }
                policy.singleActiveConsumer = entry.value.getInteger(at: entry.value.readerIndex, as: UInt8.self) != 0
            case "x-consumer-timeout":
                guard let value = QueueArguments.integer(entry) else { return .failure(.invalidArgument(queue, entry, "unacceptable_type")) }
                guard value > 0 else { return .failure(.invalidArgument(queue, entry, "value_zero_or_less")) }
                policy.consumerTimeout = UInt64(value)
            default:
                continue
            }
        }
        if policy.deadLetterRoutingKey != nil, policy.deadLetterExchange == nil {
            return .failure(ChannelError(code: .preconditionFailed, text: "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue \(queue): x-dead-letter-exchange is not set"))
        }
        return .success(policy)
    }
}

extension QueueArguments {
    /// A long-string argument's text.
    static func string(_ entry: Entry) -> String? {
        guard entry.type == UInt8(ascii: "S") else { return nil }
        var value = entry.value
        value.moveReaderIndex(forwardBy: 4)
        return value.readString(length: value.readableBytes)
    }
}

extension ChannelError {
    static func invalidArgument(_ queue: QueueID, _ entry: QueueArguments.Entry, _ reason: String) -> ChannelError {
        let shown = QueueArguments.integer(entry).map { "{\(reason),\($0)}" } ?? "{\(reason),\(QueueArguments.describe(entry))}"
        return invalidArgument(queue, entry, detail: shown)
    }

    static func invalidArgument(_ queue: QueueID, _ entry: QueueArguments.Entry, detail: String) -> ChannelError {
        ChannelError(code: .preconditionFailed, text: "PRECONDITION_FAILED - invalid arg '\(entry.key)' for queue \(queue): \(detail)")
    }
}
