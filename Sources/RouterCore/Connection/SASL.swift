// SASL responses of the two mechanisms RabbitMQ offers by default; EXTERNAL (the client
// certificate names the user) is offered on TLS connections and carries no response.
import AMQPWire
import NIOCore

public enum SASL {
    public struct Credentials {
        public var user: String
        public var password: String
    }

    /// What connection.start offers, in RabbitMQ's order.
    public static let mechanisms = ["PLAIN", "AMQPLAIN"]
    public static let external = "EXTERNAL"

    public static func credentials(mechanism: String, response: [UInt8]) -> Credentials? {
        switch mechanism {
        case "PLAIN":
            // authzid NUL authcid NUL password (RFC 4616)
            let parts = response.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return Credentials(user: String(decoding: parts[1], as: UTF8.self), password: String(decoding: parts[2], as: UTF8.self))
        case "AMQPLAIN":
            // A field table's entries without the table's length prefix.
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt32(response.count))
            buffer.writeBytes(response)
            guard let table = try? buffer.readFieldTable(),
                  case .longString(let login)? = table["LOGIN"],
                  case .longString(let password)? = table["PASSWORD"] else { return nil }
            return Credentials(user: String(decoding: login, as: UTF8.self), password: String(decoding: password, as: UTF8.self))
        default:
            return nil
        }
    }
}
