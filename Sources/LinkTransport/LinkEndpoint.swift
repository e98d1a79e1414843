// LinkTransport: where a link connection between broker processes goes, and how it is kept
// to them. On one host the link is a Unix socket and the peer's uid is checked (SO_PEERCRED);
// between hosts (issue 18) it is TCP with mutual TLS: both ends show a certificate of the
// cluster's own CA, so only the cluster's processes link. The HTTP/2 handler above is the
// same either way.

/// A link listener's or a link peer's address.
public enum LinkEndpoint: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// Reads `unix:/path`, `/path`, `host:port` or `[v6-address]:port`; nil if it is none.
    public init?(parsing text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
            return
        }
        if text.hasPrefix("/") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("/") else { return nil }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public var isTCP: Bool {
        if case .tcp = self { return true }
        return false
    }
}
