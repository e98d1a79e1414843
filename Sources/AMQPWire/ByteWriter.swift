// Writing a whole message into memory reserved once, for the per-message encoders (a
// delivery's frames on the worker, a publish on the link). Each ByteBuffer write checks
// capacity and uniqueness; with ten or more fields per message those checks were a tenth of
// the router's and the worker's profile.
import NIOCore

/// Fields written in order into a region of known size. Integers are big-endian.
public struct ByteWriter {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline var written = 0
    /// Bytes written so far.
    @inlinable public var count: Int { written }

    @inlinable
    public init(_ region: UnsafeMutableRawBufferPointer) {
        base = region.baseAddress!
    }

    @inlinable
    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        base.storeBytes(of: value.bigEndian, toByteOffset: written, as: T.self)
        written &+= MemoryLayout<T>.size
    }

    @inlinable
    public mutating func write(_ flag: Bool) { write(flag ? UInt8(1) : 0) }

    @inlinable
    public mutating func write(bytes: UnsafeRawBufferPointer) {
        if let source = bytes.baseAddress, bytes.count > 0 {
            (base + written).copyMemory(from: source, byteCount: bytes.count)
        }
        written &+= bytes.count
    }

    /// The readable bytes of `buffer`.
    @inlinable
    public mutating func write(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { write(bytes: $0) }
    }

    /// The first `limit` UTF-8 bytes of `string`, after their length as a `Length`.
    @inlinable
    public mutating func write<Length: FixedWidthInteger>(_ string: String, lengthAs: Length.Type, limit: Int) {
        let n = ByteWriter.length(string, limit: limit)
        write(Length(truncatingIfNeeded: n))
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { write(bytes: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[..<n])) }
        if done == nil { Array(string.utf8.prefix(n)).withUnsafeBytes { write(bytes: $0) } }
    }

    /// The bytes `write(string, …, limit)` writes after the length.
    @inlinable
    public static func length(_ string: String, limit: Int) -> Int { min(string.utf8.count, limit) }
}

extension ByteBuffer {
    /// Appends `size` bytes written by `body`, which must write exactly that many.
    @inlinable
    public mutating func write(size: Int, _ body: (inout ByteWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: size) { region in
            var writer = ByteWriter(region)
            body(&writer)
            precondition(writer.count == size, "wrote \(writer.count) bytes of \(size)")
            return size
        }
    }
}
