// Identifiers that cross process boundaries. Each is its own type so that a router tag can
// never be passed where a worker tag is expected.

/// One worker process: the owner of one hash partition of the queues.
public struct PartitionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: Self, b: Self) -> Bool { a.index < b.index }
    public var description: String { "partition-\(index)" }
}

/// A client connection, unique within one router run.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public var description: String { "conn-\(value)" }
}

/// An AMQP channel number within a connection.
public struct ChannelNumber: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt16
    public init(_ value: UInt16) { self.value = value }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
    public var description: String { "ch-\(value)" }
}

/// The delivery tag a client sees on a channel: 1, 2, 3, … across every worker.
public struct ClientDeliveryTag: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
    public var description: String { "\(value)" }
}

/// The delivery tag a worker assigns within one (connection, channel); the router maps it
/// to a `ClientDeliveryTag`.
public struct PartitionDeliveryTag: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
    public var description: String { "\(value)" }
}
