// Sender-selected distribution (RabbitMQ's CC and BCC headers): a message is also routed
// with each routing key listed in its CC and BCC headers (arrays of strings), on the same
// exchange; BCC is removed before delivery, so recipients do not see it.
import AMQPWire
import NIOCore

public enum SenderSelected {
    /// Whether the raw properties have a CC or BCC header; checked without decoding, so
    /// messages with other headers cost a scan of the table and no allocation.
    public static func isPresent(in properties: ByteBuffer) -> Bool {
        guard let headers = RawFieldTable.headers(inProperties: properties) else { return false }
        return RawFieldTable.containsKey(headers) { key in
            key.elementsEqual("CC".utf8) || key.elementsEqual("BCC".utf8)
        }
    }

    /// The routing keys of CC and BCC, in that order; BCC is taken out of `properties`. A
    /// value that is not an array is RabbitMQ's 406 (strings inside an array are used, other
    /// elements ignored).
    public static func routingKeys(removingBCCFrom properties: inout BasicProperties) throws(TopologyError) -> [String] {
        guard var headers = properties.headers else { return [] }
        var keys: [String] = []
        for name in ["CC", "BCC"] {
            switch headers[name] {
            case nil: continue
            case .array(let values)?: keys += values.compactMap(\.stringValue)
            case let other?:
                throw TopologyError.preconditionFailed("invalid message: {unacceptable_type_in_header,\"\(name)\",\(other.typeName)}")
            }
        }
        if headers["BCC"] != nil {
            headers["BCC"] = nil
            properties.headers = headers
        }
        return keys
    }
}

/// The delayed-message plugin's `x-delay` header: milliseconds to hold a message published
/// to an x-delayed-message exchange; absent or not positive means no delay.
public enum DelayHeader {
    public static func delay(in properties: ByteBuffer) -> UInt64? {
        guard let headers = RawFieldTable.headers(inProperties: properties),
              RawFieldTable.containsKey(headers, where: { $0.elementsEqual("x-delay".utf8) }),
              let value = (try? ContentHeader(bodySize: 0, rawProperties: properties).decodeProperties())?.headers?["x-delay"]?.integerValue,
              value > 0 else { return nil }
        return UInt64(value)
    }
}
