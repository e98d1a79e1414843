// A message's per-message TTL, read from its `expiration` property as RabbitMQ reads it
// (rabbit_basic:parse_expiration): milliseconds as a decimal string.
import AMQPWire

public enum MessageExpiration {
    /// The `expiration` property in milliseconds, nil when the message has none, or the
    /// channel error RabbitMQ gives for a value that is not a non-negative integer. The
    /// property flags are checked first so that the common message without one is not decoded.
    public static func milliseconds(in header: ContentHeader) -> Result<UInt64?, TopologyError> {
        let expirationFlag: UInt16 = 1 << 8
        guard let flags = header.rawProperties.getInteger(at: header.rawProperties.readerIndex, as: UInt16.self),
              flags & expirationFlag != 0 else { return .success(nil) }
        guard let text = (try? header.decodeProperties())?.expiration else { return .success(nil) }
        guard let value = Int64(text) else {
            return .failure(.preconditionFailed("invalid expiration '\(text)': no_integer"))
        }
        guard value >= 0 else {
            return .failure(.preconditionFailed("invalid expiration '\(text)': {value_negative,\(value)}"))
        }
        return .success(UInt64(value))
    }
}
