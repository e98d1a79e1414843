// Who may log in, to which virtual hosts, and what they may do there, as RabbitMQ's internal
// auth backend decides it (rabbit_auth_backend_internal, rabbit_access_control):
// - a user has a salted password hash (or none: no password login) and management tags;
// - a user may open a vhost only with a permission entry there;
// - an entry holds three regular expressions (configure, write, read) searched, unanchored,
//   in the resource's name; an empty one allows nothing; the default exchange is checked
//   under the name "amq.default";
// - users in `loopbackUsers` log in only from this host (guest, by default).
// It is part of the topology snapshot, so a change is seen by the next operation of every
// connection without a lock, and is saved with the durable topology.
import BrokerModel

/// One user.
public struct UserRecord: Hashable, Sendable {
    public var name: String
    /// nil: the user cannot log in with a password (RabbitMQ's password-less users).
    public var passwordHash: PasswordHash?
    public var tags: [String]

    public init(name: String, passwordHash: PasswordHash?, tags: [String]) {
        self.name = name
        self.passwordHash = passwordHash
        self.tags = tags
    }
}

/// What an operation does to a resource, in RabbitMQ's three kinds.
public enum Permission: String, Sendable {
    case configure, write, read
}

/// A user's three patterns in one vhost.
public struct VHostPermissions: Hashable, Sendable {
    public var configure: PermissionPattern
    public var write: PermissionPattern
    public var read: PermissionPattern

    public init(configure: PermissionPattern, write: PermissionPattern, read: PermissionPattern) {
        self.configure = configure
        self.write = write
        self.read = read
    }

    /// ".*" for each: everything.
    public static let all = VHostPermissions(configure: .everything, write: .everything, read: .everything)

    public subscript(permission: Permission) -> PermissionPattern {
        switch permission {
        case .configure: configure
        case .write: write
        case .read: read
        }
    }
}

/// Users, vhosts and permissions.
public struct AccessControl: Sendable {
    public private(set) var users: [String: UserRecord] = [:]
    public private(set) var vhosts: Set<VHost> = [.default]
    /// vhost → user → patterns.
    public private(set) var permissions: [VHost: [String: VHostPermissions]] = [:]
    /// RabbitMQ's vhost limits (`max-connections`, `max-queues`), where set.
    public private(set) var limits: [VHost: VHostLimits] = [:]
    /// Users who may log in only from this host (RabbitMQ's `loopback_users`); configured,
    /// not saved.
    public var loopbackUsers: Set<String> = ["guest"]

    /// A new broker's: the vhost "/" and guest/guest, an administrator with every permission
    /// on "/" who may log in only from this host, as RabbitMQ starts.
    public init() {
        putUser(UserRecord(name: "guest", passwordHash: PasswordHash(password: "guest"), tags: ["administrator"]))
        setPermissions(.all, user: "guest", vhost: .default)
    }

    private init(vhosts: Set<VHost>) {
        self.vhosts = vhosts
    }

    /// Nothing at all: for restoring a saved state.
    public static var empty: AccessControl { AccessControl(vhosts: []) }

    // MARK: Logging in

    /// Why `user` may not log in with `password` from where it is, or nil: the password is
    /// checked first, then `loopbackUsers` (AMQP and the management API alike).
    public func refusal(user: String, password: String, fromLoopback: Bool) -> LoginRefusal? {
        // rabbit_auth_backend_internal refuses a blank password whatever is stored.
        guard !password.isEmpty else { return .blankPassword(user) }
        guard let hash = users[user]?.passwordHash, hash.matches(password) else { return .wrongCredentials }
        return loopbackRefusal(user, fromLoopback: fromLoopback)
    }

    /// The same for a user named by a TLS client certificate (SASL EXTERNAL): it must exist;
    /// no password is asked.
    public func refusal(certificateUser user: String, fromLoopback: Bool) -> LoginRefusal? {
        guard users[user] != nil else { return .unknownCertificateUser(user) }
        return loopbackRefusal(user, fromLoopback: fromLoopback)
    }

    private func loopbackRefusal(_ user: String, fromLoopback: Bool) -> LoginRefusal? {
        fromLoopback || !loopbackUsers.contains(user) ? nil : .loopbackOnly(user)
    }

    public func tags(of user: String) -> [String] { users[user]?.tags ?? [] }

    public func isAdministrator(_ user: String) -> Bool { tags(of: user).contains("administrator") }

    /// RabbitMQ's management login: any of these tags.
    public func isManagementUser(_ user: String) -> Bool {
        tags(of: user).contains { ["administrator", "monitoring", "policymaker", "management"].contains($0) }
    }

    /// Why `user` may not open `vhost` (connection.open), in RabbitMQ's words, or nil.
    public func vhostRefusal(user: String, vhost: VHost) -> String? {
        guard vhosts.contains(vhost) else { return "vhost \(vhost.name) not found" }
        guard permissions[vhost]?[user] != nil else { return "access to vhost '\(vhost.name)' refused for user '\(user)'" }
        return nil
    }

    // MARK: Operations

    /// Whether `user` may do `permission` to the exchange or queue `name` in `vhost`.
    public func permits(_ user: String, _ permission: Permission, name: String, in vhost: VHost) -> Bool {
        guard let entry = permissions[vhost]?[user] else { return false }
        return entry[permission].matches(name)
    }

    /// The 403 refusal of `permission` on a resource, with RabbitMQ's text, or nil when allowed.
    public func refusal(_ user: String, _ permission: Permission, _ kind: ResourceKind, _ name: String,
                        in vhost: VHost) -> TopologyError? {
        // rabbit_access_control checks the default exchange under the name "amq.default".
        let checked = kind == .exchange && name.isEmpty ? "amq.default" : name
        guard !permits(user, permission, name: checked, in: vhost) else { return nil }
        return .accessRefused("access to " + TopologyError.resource(kind.rawValue, checked, vhost) + " refused for user '\(user)'")
    }

    public enum ResourceKind: String, Sendable {
        case exchange, queue
    }

    // MARK: Changes

    /// Creates or replaces a user; true when it is new.
    @discardableResult
    public mutating func putUser(_ user: UserRecord) -> Bool {
        users.updateValue(user, forKey: user.name) == nil
    }

    /// Deletes a user and its permissions; false when there is none.
    public mutating func deleteUser(_ name: String) -> Bool {
        guard users.removeValue(forKey: name) != nil else { return false }
        for vhost in permissions.keys { permissions[vhost]?[name] = nil }
        return true
    }

    /// Adds a vhost; false when it exists.
    @discardableResult
    public mutating func addVHost(_ vhost: VHost) -> Bool {
        vhosts.insert(vhost).inserted
    }

    /// Forgets a vhost and every permission in it; false when there is none.
    public mutating func deleteVHost(_ vhost: VHost) -> Bool {
        permissions[vhost] = nil
        limits[vhost] = nil
        return vhosts.remove(vhost) != nil
    }

    /// Sets a user's patterns in a vhost: true when the entry is new, false when it replaced
    /// one, nil (and nothing set) when the user or the vhost does not exist.
    @discardableResult
    public mutating func setPermissions(_ entry: VHostPermissions, user: String, vhost: VHost) -> Bool? {
        guard users[user] != nil, vhosts.contains(vhost) else { return nil }
        return permissions[vhost, default: [:]].updateValue(entry, forKey: user) == nil
    }

    /// Removes a user's entry in a vhost; false when there is none.
    public mutating func clearPermissions(user: String, vhost: VHost) -> Bool {
        permissions[vhost]?.removeValue(forKey: user) != nil
    }

    /// Sets or (with nil) clears one of a vhost's limits; false when the vhost does not exist.
    public mutating func setLimit(_ name: VHostLimits.Name, _ value: Int?, vhost: VHost) -> Bool {
        guard vhosts.contains(vhost) else { return false }
        var entry = limits[vhost] ?? VHostLimits()
        entry[name] = value
        limits[vhost] = entry.isEmpty ? nil : entry
        return true
    }

    /// Every permission entry, sorted by user and vhost.
    public var permissionList: [(user: String, vhost: VHost, entry: VHostPermissions)] {
        permissions.flatMap { vhost, byUser in byUser.map { (user: $0.key, vhost: vhost, entry: $0.value) } }
            .sorted { ($0.user, $0.vhost.name) < ($1.user, $1.vhost.name) }
    }

    /// The users named in the configuration (`users`, `--user`): each is created or updated
    /// (password and tags) and, when it has no permissions on "/", given every permission
    /// there. Applied at start and on a reload; users made at run time are left as they are.
    /// A user whose password and tags are already these keeps its hash (and salt), so an
    /// unchanged configuration changes nothing to save.
    public mutating func apply(configured: [ConfiguredUser]) {
        for user in configured {
            let existing = users[user.name]
            if existing?.tags != user.tags || existing?.passwordHash?.matches(user.password) != true {
                putUser(UserRecord(name: user.name, passwordHash: PasswordHash(password: user.password), tags: user.tags))
            }
            if permissions[.default]?[user.name] == nil { setPermissions(.all, user: user.name, vhost: .default) }
        }
    }
}

/// A vhost's limits, as RabbitMQ's `rabbitmqctl set_vhost_limits` sets them.
public struct VHostLimits: Hashable, Sendable {
    public enum Name: String, Sendable, CaseIterable {
        case maxConnections = "max-connections"
        case maxQueues = "max-queues"
    }

    public var maxConnections: Int?
    public var maxQueues: Int?

    public init(maxConnections: Int? = nil, maxQueues: Int? = nil) {
        self.maxConnections = maxConnections
        self.maxQueues = maxQueues
    }

    public var isEmpty: Bool { maxConnections == nil && maxQueues == nil }

    public subscript(name: Name) -> Int? {
        get { name == .maxConnections ? maxConnections : maxQueues }
        set { if name == .maxConnections { maxConnections = newValue } else { maxQueues = newValue } }
    }
}

/// A user given in the configuration.
public struct ConfiguredUser: Hashable, Sendable {
    public var name: String
    public var password: String
    public var tags: [String]

    public init(name: String, password: String, tags: [String]) {
        self.name = name
        self.password = password
        self.tags = tags
    }
}

/// Why a login was refused: for the log (the client learns no more than RabbitMQ tells it).
public enum LoginRefusal: Error, Hashable, Sendable {
    case wrongCredentials
    case loopbackOnly(String)
    case blankPassword(String)
    /// EXTERNAL without a client certificate.
    case noPeerCertificate
    case unknownCertificateUser(String)

    /// As RabbitMQ logs it.
    public var reason: String {
        switch self {
        case .wrongCredentials: "wrong user name or password"
        case .loopbackOnly(let user): "user '\(user)' can only connect via localhost"
        case .blankPassword(let user): "user '\(user)' attempted to log in with a blank password, which is prohibited"
        case .noPeerCertificate: "EXTERNAL login without a client certificate"
        case .unknownCertificateUser(let user): "no user '\(user)' (the client certificate's name)"
        }
    }
}
