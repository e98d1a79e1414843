// Definitions: RabbitMQ's definitions document (`rabbitmqctl export_definitions`, GET/POST
// /api/definitions) read into typed values, and the readers of its parts that the management
// API's single-object requests share (a user, a permission entry, an exchange). A document is
// read whole and checked before anything of it is applied, so a bad one changes nothing; what
// exists already is the applier's concern (ManagementAPI+Definitions). No I/O: the fuzzer
// feeds it arbitrary bytes (Sources/BrokerFuzz).
import AMQPWire
import BrokerModel
import BrokerTelemetry
import RouterCore

/// Why a document or a request body cannot be used, as the 400 reply's reason.
public struct DefinitionsError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A queue as a definitions document describes it.
public struct QueueDefinition: Sendable {
    public var id: QueueID
    public var durable: Bool
    public var autoDelete: Bool
    public var arguments: FieldTable
}

public struct Definitions: Sendable {
    public var vhosts: [VHost] = []
    public var users: [UserRecord] = []
    public var permissions: [(user: String, vhost: VHost, entry: VHostPermissions)] = []
    public var exchanges: [(vhost: VHost, definition: ExchangeDefinition)] = []
    public var queues: [QueueDefinition] = []
    public var bindings: [(vhost: VHost, binding: Binding)] = []

    /// Every vhost the objects name (to check they exist or are made first).
    public var namedVHosts: Set<VHost> {
        Set(permissions.map(\.vhost) + exchanges.map(\.vhost) + queues.map(\.id.vhost) + bindings.map(\.vhost))
    }

    /// Reads a whole document. Objects without a `vhost` field are in `defaultVHost` (the
    /// per-vhost import) or "/"; a per-vhost import takes no users, vhosts or permissions, as
    /// RabbitMQ's. Parameters, policies and topic permissions are not read.
    public init(parsing document: JSON, defaultVHost: String? = nil) throws(DefinitionsError) {
        guard case .object = document else { throw DefinitionsError("failed_to_parse_json") }
        func items(_ key: String) throws(DefinitionsError) -> [JSON] {
            switch document[key] {
            case nil, .null?: return []
            case .array(let items)?: return items
            default: throw DefinitionsError("'\(key)' must be a list")
            }
        }
        func vhost(of item: JSON) -> VHost { VHost(item["vhost"]?.stringValue ?? defaultVHost ?? "/") }
        if defaultVHost == nil {
            for item in try items("vhosts") {
                guard let name = item["name"]?.stringValue else { throw DefinitionsError("a vhost without a name") }
                vhosts.append(VHost(name))
            }
            for item in try items("users") {
                guard let name = item["name"]?.stringValue else { throw DefinitionsError("a user without a name") }
                users.append(try Self.user(named: name, item))
            }
            for item in try items("permissions") {
                guard let user = item["user"]?.stringValue, let vhost = item["vhost"]?.stringValue else {
                    throw DefinitionsError("a permission without user or vhost")
                }
                permissions.append((user, VHost(vhost), try Self.permissions(item)))
            }
        }
        for item in try items("exchanges") {
            guard let name = item["name"]?.stringValue else { throw DefinitionsError("an exchange without a name") }
            exchanges.append((vhost(of: item), try Self.exchange(ExchangeName(name), item)))
        }
        for item in try items("queues") {
            guard let name = item["name"]?.stringValue else { throw DefinitionsError("a queue without a name") }
            guard let durable = (item["durable"] ?? false).flagValue, let autoDelete = (item["auto_delete"] ?? false).flagValue,
                  let arguments = (item["arguments"] ?? .null).fieldTable else {
                throw DefinitionsError("queue '\(name)': durable, auto_delete or arguments malformed")
            }
            queues.append(QueueDefinition(id: QueueID(vhost: vhost(of: item), name: QueueName(name)), durable: durable,
                                          autoDelete: autoDelete, arguments: arguments))
        }
        for item in try items("bindings") {
            guard let source = item["source"]?.stringValue, let destination = item["destination"]?.stringValue,
                  let arguments = (item["arguments"] ?? .null).fieldTable else {
                throw DefinitionsError("a binding without source, destination or arguments")
            }
            let target: BindingDestination = item["destination_type"]?.stringValue == "exchange"
                ? .exchange(ExchangeName(destination)) : .queue(QueueName(destination))
            bindings.append((vhost(of: item), Binding(source: ExchangeName(source), destination: target,
                                                      routingKey: item["routing_key"]?.stringValue ?? "", arguments: arguments)))
        }
    }

    // MARK: Parts

    /// A user: `password` (hashed here), or `password_hash` with `hashing_algorithm`
    /// (RabbitMQ's SHA-256 when absent), or neither (no password login); `tags` as "a,b" or
    /// a list.
    public static func user(named name: String, _ body: JSON) throws(DefinitionsError) -> UserRecord {
        var tags: [String] = []
        switch body["tags"] {
        case .string(let text)?:
            tags = text.split(separator: ",").map { String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
                .filter { !$0.isEmpty }
        case .array(let items)?: tags = items.compactMap(\.stringValue)
        default: break
        }
        if let password = body["password"]?.stringValue {
            return UserRecord(name: name, passwordHash: PasswordHash(password: password), tags: tags)
        }
        if let text = body["password_hash"]?.stringValue, !text.isEmpty {
            let algorithmName = body["hashing_algorithm"]?.stringValue ?? PasswordHash.Algorithm.sha256.rawValue
            guard let algorithm = PasswordHash.Algorithm(rawValue: algorithmName) else {
                throw DefinitionsError("user '\(name)': unknown hashing_algorithm '\(algorithmName)'")
            }
            guard let hash = PasswordHash(base64: text, algorithm: algorithm) else {
                throw DefinitionsError("user '\(name)': password_hash is not a \(algorithmName) hash")
            }
            return UserRecord(name: name, passwordHash: hash, tags: tags)
        }
        return UserRecord(name: name, passwordHash: nil, tags: tags)
    }

    /// The three patterns of a permissions body; each must be a regular expression.
    public static func permissions(_ body: JSON) throws(DefinitionsError) -> VHostPermissions {
        var patterns: [PermissionPattern] = []
        for key in ["configure", "write", "read"] {
            guard let text = body[key]?.stringValue else { throw DefinitionsError("\(key) is missing") }
            guard let pattern = PermissionPattern(text) else { throw DefinitionsError("\(key): '\(text)' is not a regular expression") }
            patterns.append(pattern)
        }
        return VHostPermissions(configure: patterns[0], write: patterns[1], read: patterns[2])
    }

    /// An exchange from a management body or a definitions entry.
    public static func exchange(_ name: ExchangeName, _ body: JSON) throws(DefinitionsError) -> ExchangeDefinition {
        let typeName = body["type"]?.stringValue ?? "direct"
        guard let durable = (body["durable"] ?? false).flagValue,
              let autoDelete = (body["auto_delete"] ?? false).flagValue,
              let isInternal = (body["internal"] ?? false).flagValue else {
            throw DefinitionsError("durable, auto_delete and internal must be true or false")
        }
        guard let arguments = (body["arguments"] ?? .null).fieldTable else { throw DefinitionsError("arguments must be an object") }
        // A delayed exchange routes as its x-delayed-type (RabbitMQ's delayed-message plugin).
        let delayed = typeName == ExchangeType.delayedMessage
        let delayedType = arguments["x-delayed-type"]?.stringValue
        guard let type = ExchangeType(rawValue: delayed ? delayedType ?? "" : typeName) else {
            if delayed, delayedType == nil {
                throw DefinitionsError("Invalid argument, 'x-delayed-type' must be an existing exchange type")
            }
            throw DefinitionsError("unknown exchange type '\(typeName)'")
        }
        return ExchangeDefinition(name: name, type: type, durable: durable, autoDelete: autoDelete,
                                  internal: isInternal, arguments: arguments, delayed: delayed)
    }
}
