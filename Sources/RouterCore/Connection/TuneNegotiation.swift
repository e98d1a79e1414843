// connection.tune-ok checked as RabbitMQ's rabbit_reader does
// (validate_negotiated_integer_value): a value below the minimum, above what the server
// offered, or 0 ("no limit") while the server has a limit is a connection exception 530
// NOT_ALLOWED naming the field, with RabbitMQ's words.
import AMQPWire

public enum TuneNegotiation {
    /// Why the client's tune-ok cannot be accepted against what the server offered in
    /// connection.tune, or nil when the connection may run with the tune-ok's values.
    public static func refusal(of tuneOk: ConnectionTuneOk, offered: ConnectionTune) -> TuneRefused? {
        check("channel_max", tuneOk.channelMax, minimum: 1, offered: offered.channelMax)
            ?? check("frame_max", tuneOk.frameMax, minimum: FrameType.minimumFrameSize, offered: offered.frameMax)
    }

    private static func check<V: FixedWidthInteger>(_ field: String, _ value: V, minimum: V, offered: V) -> TuneRefused? {
        if value != 0 && value < minimum {
            return TuneRefused(detail: "negotiated \(field) = \(value) is lower than the minimum allowed value (\(minimum))")
        }
        if offered != 0 && (value == 0 || value > offered) {
            let noLimit = value == 0 && field == "channel_max" ? " (no limit)" : ""
            return TuneRefused(detail: "negotiated \(field) = \(value)\(noLimit) is higher than the maximum allowed value (\(offered))")
        }
        return nil
    }
}

/// A tune-ok the server does not accept: connection.close 530 with `text`, naming
/// connection.tune as the failing method, as RabbitMQ does.
public struct TuneRefused: Error, Hashable, Sendable {
    public var detail: String
    public var code: ReplyCode { .notAllowed }
    public var text: String { ReplyCode.notAllowed.replyText(detail) }
}
