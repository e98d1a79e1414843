// connection.tune-ok checked as RabbitMQ's rabbit_reader does
// (validate_negotiated_integer_value): a value below the minimum, above what the server
// offered, or 0 ("no limit") while the server has a limit is a connection exception 530
// NOT_ALLOWED naming the field, with RabbitMQ's words.
import AMQPWire

/// The limits a connection runs with after connection.tune-ok.
public struct TuneNegotiation: Hashable, Sendable {
    /// Channels the connection may have open at once.
    public var channelMax: UInt16
    /// The largest frame, header and end octet included.
    public var frameMax: UInt32
    /// Seconds between heartbeats; 0 turns them off.
    public var heartbeat: UInt16

    public init(channelMax: UInt16, frameMax: UInt32, heartbeat: UInt16) {
        self.channelMax = channelMax
        self.frameMax = frameMax
        self.heartbeat = heartbeat
    }

    /// The client's tune-ok measured against what the server offered in connection.tune.
    /// - Returns: the negotiated limits, or the reply text of a 530 connection close (which
    ///   names connection.tune as the failing method, as RabbitMQ does).
    public static func accept(_ tuneOk: ConnectionTuneOk, offered: ConnectionTune) -> Result<TuneNegotiation, TuneRefused> {
        if let refused = check("channel_max", tuneOk.channelMax, minimum: 1, offered: offered.channelMax)
            ?? check("frame_max", tuneOk.frameMax, minimum: FrameType.minimumFrameSize, offered: offered.frameMax) {
            return .failure(refused)
        }
        return .success(TuneNegotiation(channelMax: tuneOk.channelMax, frameMax: tuneOk.frameMax, heartbeat: tuneOk.heartbeat))
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

/// A tune-ok the server does not accept: connection.close 530 with `text`.
public struct TuneRefused: Error, Hashable, Sendable {
    public var detail: String
    public var code: ReplyCode { .notAllowed }
    public var text: String { ReplyCode.notAllowed.replyText(detail) }
}
