// `amqp://user:password@host:port/vhost`, after RabbitMQ's URI spec
// (https://www.rabbitmq.com/docs/uri-spec): user, password and vhost are percent-decoded.
// An empty path or "/" both mean the default vhost "/" (as pika and most clients read it).

/// Where and as whom to connect.
public struct AMQPURI: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String

    public init(host: String = "127.0.0.1", port: Int = 5672, user: String = "guest",
                password: String = "guest", vhost: String = "/") {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.vhost = vhost
    }

    /// Parses an `amqp://` URI.
    /// - Throws: ``PerfConfigError`` for another scheme (TLS is not supported), a bad port
    ///   or a bad percent escape.
    public init(parsing text: String) throws(PerfConfigError) {
        let prefix = "amqp://"
        guard text.hasPrefix(prefix) else {
            if text.hasPrefix("amqps://") { throw PerfConfigError("--uri: amqps (TLS) is not supported by broker perf") }
            throw PerfConfigError("--uri must start with amqp:// (got \"\(text)\")")
        }
        self.init()
        var rest = Substring(text.dropFirst(prefix.count))
        var path: Substring? = nil
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.percentDecode(userInfo[..<colon])
                password = try Self.percentDecode(userInfo[userInfo.index(after: colon)...])
            } else {
                user = try Self.percentDecode(userInfo)
                password = ""
            }
        }
        var hostPart = rest
        var portPart: Substring? = nil
        if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {
            // IPv6 literal: [::1]:5672
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        if !hostPart.isEmpty { host = String(hostPart) }
        if let portPart, !portPart.isEmpty {
            guard let p = Int(portPart), (1...65535).contains(p) else {
                throw PerfConfigError("--uri: bad port \"\(portPart)\"")
            }
            port = p
        }
        if let path, !path.isEmpty {
            vhost = try Self.percentDecode(path)
        }
    }

    static func percentDecode(_ text: Substring) throws(PerfConfigError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = utf8.next().flatMap(hexValue), let low = utf8.next().flatMap(hexValue) else {
                throw PerfConfigError("--uri: bad percent escape in \"\(text)\"")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
