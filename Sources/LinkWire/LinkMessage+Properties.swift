// The few message properties a worker needs, read straight from the raw content-header
// property bytes without decoding the rest (the flags word, then the fields in flag order).
import NIOCore

extension LinkMessage {
    /// The `priority` property, or nil when absent or the properties are malformed.
    public var priority: UInt8? {
        var buffer = properties
        guard let flags = buffer.readInteger(as: UInt16.self), flags & (1 << 11) != 0 else { return nil }
        // content-type and content-encoding (short strings), headers (a table), delivery-mode.
        for bit: UInt16 in 14...15 where flags & (1 << bit) != 0 {
            guard let length = buffer.readInteger(as: UInt8.self), buffer.readSlice(length: Int(length)) != nil else { return nil }
        }
        if flags & (1 << 13) != 0 {
            guard let length = buffer.readInteger(as: UInt32.self), buffer.readSlice(length: Int(length)) != nil else { return nil }
        }
        if flags & (1 << 12) != 0 {
            guard buffer.readInteger(as: UInt8.self) != nil else { return nil }
        }
        return buffer.readInteger(as: UInt8.self)
    }
}
