// BrokerModel: the nouns every process shares (virtual hosts, queue and exchange names,
// partitions, connection and delivery identifiers) and the stable placement hash.
// Invariant: nothing here depends on the process it runs in; the same inputs give the same
// answers in the router, in every worker, and in every run.

/// A virtual host name, e.g. "/".
public struct VHost: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
    public static let `default` = VHost("/")
}

/// A queue's name within its virtual host.
public struct QueueName: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}

/// An exchange's name within its virtual host; "" is the default exchange.
public struct ExchangeName: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
    public static let `default` = ExchangeName("")
}

/// A queue's fully qualified identity: which vhost, which name.
public struct QueueID: Hashable, Sendable, CustomStringConvertible {
    public var vhost: VHost
    public var name: QueueName
    public init(vhost: VHost, name: QueueName) {
        self.vhost = vhost
        self.name = name
    }
    public var description: String { "'\(name.name)' in vhost '\(vhost.name)'" }
}
