// The few message properties a worker needs, read straight from the raw content-header
// property bytes without decoding the rest (the flags word, then the fields in flag order).
import NIOCore

extension LinkMessage {
    /// The `priority` property, or nil when absent or the properties are malformed.
    public var priority: UInt8? {
        guard var buffer = fieldsAfterHeaders(through: 11) else { return nil }
        if buffer.flags & (1 << 12) != 0 {
            guard buffer.bytes.readInteger(as: UInt8.self) != nil else { return nil }
        }
        return buffer.bytes.readInteger(as: UInt8.self)
    }

    /// delivery-mode 2: the message is to be kept on disk in a durable queue.
    public var isPersistent: Bool {
        guard var buffer = fieldsAfterHeaders(through: 12) else { return false }
        return buffer.bytes.readInteger(as: UInt8.self) == 2
    }

    /// The property bytes from delivery-mode on, when the property of flag bit `bit` is
    /// present and content-type, content-encoding and headers are well formed.
    private func fieldsAfterHeaders(through bit: UInt16) -> (flags: UInt16, bytes: ByteBuffer)? {
        var buffer = properties
        guard let flags = buffer.readInteger(as: UInt16.self), flags & (1 << bit) != 0 else { return nil }
        // content-type and content-encoding (short strings), then headers (a table).
        for bit: UInt16 in 14...15 where flags & (1 << bit) != 0 {
            guard let length = buffer.readInteger(as: UInt8.self), buffer.readSlice(length: Int(length)) != nil else { return nil }
        }
        if flags & (1 << 13) != 0 {
            guard let length = buffer.readInteger(as: UInt32.self), buffer.readSlice(length: Int(length)) != nil else { return nil }
        }
        return (flags, buffer)
    }
}
