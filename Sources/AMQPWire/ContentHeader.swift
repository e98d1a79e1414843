// The content header frame payload (spec 4.2.6): class id, weight (always 0), body size,
// then the property flags and list. The properties are kept as the bytes received so the
// router can forward them untouched; decode them only when a property is needed.
import NIOCore

/// A content header: which class the content belongs to, how large its body is, and its
/// properties as raw bytes.
public struct ContentHeader: Hashable, Sendable {
    /// The class of the method that carries the content (60 for `basic`).
    public var classID: UInt16
    /// Unused, must be 0 (spec 4.2.6.1).
    public var weight: UInt16
    /// Total size of the body frames that follow, in bytes.
    public var bodySize: UInt64
    /// The property flags and property list exactly as received (a slice of the frame, not
    /// a copy) or as encoded by ``init(classID:bodySize:properties:)``.
    public var rawProperties: ByteBuffer

    /// Creates a header around already-encoded property bytes.
    @inlinable
    public init(classID: UInt16 = 60, weight: UInt16 = 0, bodySize: UInt64, rawProperties: ByteBuffer) {
        self.classID = classID
        self.weight = weight
        self.bodySize = bodySize
        self.rawProperties = rawProperties
    }

    /// Creates a header, encoding `properties`.
    public init(classID: UInt16 = 60, bodySize: UInt64, properties: BasicProperties) {
        var raw = ByteBufferAllocator().buffer(capacity: properties.flags == 0 ? 2 : 64)
        properties.encode(into: &raw)
        self.init(classID: classID, weight: 0, bodySize: bodySize, rawProperties: raw)
    }

    /// Decodes ``rawProperties`` as `basic` properties.
    public func decodeProperties() throws(AMQPWireError) -> BasicProperties {
        var raw = rawProperties
        return try BasicProperties(from: &raw)
    }

    /// Decodes a header frame payload; ``rawProperties`` becomes a slice of `payload`.
    /// - Throws: ``AMQPWireError`` (501) when the payload is shorter than the 14 fixed bytes
    ///   (RabbitMQ's rabbit_command_assembler treats it as an undecodable frame).
    public init(payload: inout ByteBuffer) throws(AMQPWireError) {
        guard let (classID, weight, bodySize) = payload.readMultipleIntegers(as: (UInt16, UInt16, UInt64).self),
              payload.readableBytes >= 2 else {
            throw AMQPWireError(.frameError, "content header frame too short")
        }
        self.init(classID: classID, weight: weight, bodySize: bodySize,
                  rawProperties: payload.readSlice(length: payload.readableBytes)!)
    }

    /// Encodes the header frame payload.
    public func encodePayload(into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(classID, weight, bodySize)
        buffer.writeImmutableBuffer(rawProperties)
    }
}
