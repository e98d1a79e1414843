// The broker's users and how a login is checked.
import AMQPWire

/// The broker's users. Until users are persisted (durability issue), the router is started
/// with its users on the command line; guest/guest by default, as RabbitMQ, with the
/// `administrator` tag that the management API requires for changes.
public struct UserDirectory: Sendable {
    public var passwords: [String: String]
    /// Management tags per user (RabbitMQ's administrator, monitoring, management …).
    public var tags: [String: [String]]
    /// Users who may log in only from this host (RabbitMQ's `loopback_users`, by default
    /// guest, whose password everyone knows).
    public var loopbackUsers: Set<String>

    public init(passwords: [String: String] = ["guest": "guest"], tags: [String: [String]] = ["guest": ["administrator"]],
                loopbackUsers: Set<String> = ["guest"]) {
        self.passwords = passwords
        self.tags = tags
        self.loopbackUsers = loopbackUsers
    }

    /// Why `user` may not log in with `password` from where it is, or nil: the password is
    /// checked first, then `loopbackUsers` (AMQP and the management API alike).
    public func refusal(user: String, password: String, fromLoopback: Bool) -> LoginRefusal? {
        guard authenticate(user, password) else { return .wrongCredentials }
        guard fromLoopback || !loopbackUsers.contains(user) else { return .loopbackOnly(user) }
        return nil
    }

    public func isAdministrator(_ user: String) -> Bool { tags[user]?.contains("administrator") ?? false }

    public func authenticate(_ user: String, _ password: String) -> Bool {
        guard let expected = passwords[user] else { return false }
        // Compare without an early exit so timing does not reveal the matching prefix.
        let a = Array(expected.utf8), b = Array(password.utf8)
        var difference = a.count ^ b.count
        for i in 0..<min(a.count, b.count) { difference |= Int(a[i] ^ b[i]) }
        return difference == 0
    }
}

/// Why a login was refused: for the log (the client learns no more than RabbitMQ tells it).
public enum LoginRefusal: Error, Hashable, Sendable {
    case wrongCredentials
    case loopbackOnly(String)

    /// As RabbitMQ logs it.
    public var reason: String {
        switch self {
        case .wrongCredentials: "wrong user name or password"
        case .loopbackOnly(let user): "user '\(user)' can only connect via localhost"
        }
    }
}

extension FieldTable {
    /// The client's `capabilities` sub-table (empty when absent).
    public var capabilities: FieldTable {
        if case .table(let table)? = self["capabilities"] { return table }
        return FieldTable()
    }

    public func flag(_ key: String) -> Bool {
        if case .bool(true)? = self[key] { return true }
        return false
    }
}
