// Reading an encoded field table without decoding it: walks the entries by their type octets
// and sizes, so a hot path can ask "is key K there?" without allocating a `FieldTable`.
import NIOCore

public enum RawFieldTable {
    /// The encoded size of a value of `type` at the buffer's reader index (after the type
    /// octet), or nil for an unknown type or a truncated length.
    public static func valueSize(type: UInt8, at buffer: ByteBuffer) -> Int? {
        switch type {
        case UInt8(ascii: "t"), UInt8(ascii: "b"), UInt8(ascii: "B"): return 1
        case UInt8(ascii: "s"), UInt8(ascii: "u"), UInt8(ascii: "U"): return 2
        case UInt8(ascii: "I"), UInt8(ascii: "i"), UInt8(ascii: "f"): return 4
        case UInt8(ascii: "l"), UInt8(ascii: "L"), UInt8(ascii: "d"), UInt8(ascii: "T"): return 8
        case UInt8(ascii: "D"): return 5
        case UInt8(ascii: "V"): return 0
        case UInt8(ascii: "S"), UInt8(ascii: "A"), UInt8(ascii: "F"), UInt8(ascii: "x"):
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
            return 4 + Int(length)
        default: return nil
        }
    }

    /// The `headers` table of raw basic properties (its entries, without the length
    /// prefix), or nil when the message has none or the properties are malformed.
    public static func headers(inProperties properties: ByteBuffer) -> ByteBuffer? {
        var buffer = properties
        guard let flags = buffer.readInteger(as: UInt16.self), flags & (1 << 13) != 0 else { return nil }
        for bit: UInt16 in 14...15 where flags & (1 << bit) != 0 {
            guard let length = buffer.readInteger(as: UInt8.self), buffer.readSlice(length: Int(length)) != nil else { return nil }
        }
        guard let length = buffer.readInteger(as: UInt32.self) else { return nil }
        return buffer.readSlice(length: Int(length))
    }

    /// Whether the table's entries (no length prefix) include a key `accept` says yes to;
    /// the key is passed as raw bytes. False for a malformed table.
    public static func containsKey(_ table: ByteBuffer, where accept: (ByteBufferView) -> Bool) -> Bool {
        var buffer = table
        while buffer.readableBytes > 0 {
            guard let keyLength = buffer.readInteger(as: UInt8.self),
                  let key = buffer.readSlice(length: Int(keyLength)),
                  let type = buffer.readInteger(as: UInt8.self),
                  let size = valueSize(type: type, at: buffer),
                  buffer.readSlice(length: size) != nil else { return false }
            if accept(key.readableBytesView) { return true }
        }
        return false
    }
}
