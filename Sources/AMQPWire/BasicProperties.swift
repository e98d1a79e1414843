// Content header properties of class `basic` (spec 4.2.6.1): a 16-bit flag word (bit 15 =
// first property; bit 0 = another flag word follows) and then the present properties in
// order. Only the 14 basic properties exist, so continuation words must carry no flags.
import NIOCore

/// The properties of a `basic` content header. `nil` means absent (its flag bit clear).
public struct BasicProperties: Hashable, Sendable {
    /// MIME content type (`content-type`).
    public var contentType: String?
    /// MIME content encoding (`content-encoding`).
    public var contentEncoding: String?
    /// Application headers; also used by headers exchanges (`headers`).
    public var headers: FieldTable?
    /// 1 = transient, 2 = persistent (`delivery-mode`).
    public var deliveryMode: UInt8?
    /// Message priority, 0 to 9 (`priority`).
    public var priority: UInt8?
    /// Application correlation identifier (`correlation-id`).
    public var correlationId: String?
    /// Address to reply to (`reply-to`).
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (`expiration`).
    public var expiration: String?
    /// Application message identifier (`message-id`).
    public var messageId: String?
    /// Message timestamp, seconds since the epoch (`timestamp`).
    public var timestamp: UInt64?
    /// Message type name (`type`).
    public var type: String?
    /// Creating user id, validated by RabbitMQ against the connection's user (`user-id`).
    public var userId: String?
    /// Creating application id (`app-id`).
    public var appId: String?
    /// Deprecated cluster id (`reserved` in 0-9-1, `cluster-id` in 0-9).
    public var clusterId: String?

    /// Creates properties; every property defaults to absent.
    @inlinable
    public init(contentType: String? = nil, contentEncoding: String? = nil, headers: FieldTable? = nil,
                deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationId: String? = nil,
                replyTo: String? = nil, expiration: String? = nil, messageId: String? = nil,
                timestamp: UInt64? = nil, type: String? = nil, userId: String? = nil,
                appId: String? = nil, clusterId: String? = nil) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageId = messageId
        self.timestamp = timestamp
        self.type = type
        self.userId = userId
        self.appId = appId
        self.clusterId = clusterId
    }

    /// Properties with no flag set.
    public static let none = BasicProperties()

    /// Decodes the property flags and list. Bytes after the last present property are
    /// ignored.
    /// - Throws: ``AMQPWireError`` (502) when a property is truncated or a continuation flag
    ///   word names a property that does not exist.
    public init(from buffer: inout ByteBuffer) throws(AMQPWireError) {
        guard let flags = buffer.readInteger(as: UInt16.self) else { throw .truncated("property flags") }
        var more = flags & 1 != 0
        while more {
            guard let next = buffer.readInteger(as: UInt16.self) else { throw .truncated("property flags") }
            guard next & 0xFFFE == 0 else {
                throw AMQPWireError(.syntaxError, "unknown basic property flags")
            }
            more = next & 1 != 0
        }
        self.init()
        if flags & (1 << 15) != 0 { contentType = try buffer.readShortString() }
        if flags & (1 << 14) != 0 { contentEncoding = try buffer.readShortString() }
        if flags & (1 << 13) != 0 { headers = try buffer.readFieldTable() }
        if flags & (1 << 12) != 0 { deliveryMode = try buffer.readAMQPOctet() }
        if flags & (1 << 11) != 0 { priority = try buffer.readAMQPOctet() }
        if flags & (1 << 10) != 0 { correlationId = try buffer.readShortString() }
        if flags & (1 << 9) != 0 { replyTo = try buffer.readShortString() }
        if flags & (1 << 8) != 0 { expiration = try buffer.readShortString() }
        if flags & (1 << 7) != 0 { messageId = try buffer.readShortString() }
        if flags & (1 << 6) != 0 { timestamp = try buffer.readAMQPLongLong() }
        if flags & (1 << 5) != 0 { type = try buffer.readShortString() }
        if flags & (1 << 4) != 0 { userId = try buffer.readShortString() }
        if flags & (1 << 3) != 0 { appId = try buffer.readShortString() }
        if flags & (1 << 2) != 0 { clusterId = try buffer.readShortString() }
    }

    /// The flag word for the present properties.
    public var flags: UInt16 {
        var f: UInt16 = 0
        if contentType != nil { f |= 1 << 15 }
        if contentEncoding != nil { f |= 1 << 14 }
        if headers != nil { f |= 1 << 13 }
        if deliveryMode != nil { f |= 1 << 12 }
        if priority != nil { f |= 1 << 11 }
        if correlationId != nil { f |= 1 << 10 }
        if replyTo != nil { f |= 1 << 9 }
        if expiration != nil { f |= 1 << 8 }
        if messageId != nil { f |= 1 << 7 }
        if timestamp != nil { f |= 1 << 6 }
        if type != nil { f |= 1 << 5 }
        if userId != nil { f |= 1 << 4 }
        if appId != nil { f |= 1 << 3 }
        if clusterId != nil { f |= 1 << 2 }
        return f
    }

    /// Encodes the flag word and the present properties.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(flags)
        if let contentType { buffer.writeShortString(contentType) }
        if let contentEncoding { buffer.writeShortString(contentEncoding) }
        if let headers { buffer.writeFieldTable(headers) }
        if let deliveryMode { buffer.writeInteger(deliveryMode) }
        if let priority { buffer.writeInteger(priority) }
        if let correlationId { buffer.writeShortString(correlationId) }
        if let replyTo { buffer.writeShortString(replyTo) }
        if let expiration { buffer.writeShortString(expiration) }
        if let messageId { buffer.writeShortString(messageId) }
        if let timestamp { buffer.writeInteger(timestamp) }
        if let type { buffer.writeShortString(type) }
        if let userId { buffer.writeShortString(userId) }
        if let appId { buffer.writeShortString(appId) }
        if let clusterId { buffer.writeShortString(clusterId) }
    }
}
