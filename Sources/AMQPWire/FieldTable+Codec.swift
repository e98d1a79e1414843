// The field-table codec (spec 4.2.5.5 with RabbitMQ's errata type letters; see
// FieldTable.swift). Tables and arrays are parsed inside a slice of their declared length,
// so a length that overruns the buffer, or an entry that overruns its table, is a 502 error
// rather than a read past the end. Nesting is bounded to keep the recursion shallow.
import NIOCore

extension FieldTable {
    /// Deepest nesting of tables and arrays accepted on decode.
    public static let maximumNestingDepth = 64

    /// Decodes a field table (uint32 byte length, then key/value pairs) from `buffer`.
    public init(from buffer: inout ByteBuffer) throws(AMQPWireError) {
        self = try buffer.readFieldTable()
    }

    /// Encodes the table (uint32 byte length, then key/value pairs) into `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeFieldTable(self)
    }
}

extension ByteBuffer {
    /// Reads a field table: a uint32 byte length, then short-string keys each followed by a
    /// type octet and a value.
    /// - Throws: ``AMQPWireError`` (502) for an unknown type letter, a length that overruns
    ///   the buffer or the enclosing table, or nesting deeper than
    ///   ``FieldTable/maximumNestingDepth``.
    public mutating func readFieldTable() throws(AMQPWireError) -> FieldTable {
        try readFieldTable(depth: 0)
    }

    /// Writes a field table: a uint32 byte length, then its entries in order.
    public mutating func writeFieldTable(_ table: FieldTable) {
        let lengthIndex = writerIndex
        writeInteger(UInt32(0))
        for entry in table.entries {
            writeShortString(entry.key)
            writeFieldValue(entry.value)
        }
        setInteger(UInt32(truncatingIfNeeded: writerIndex - lengthIndex - 4), at: lengthIndex)
    }

    /// Reads one field value: a type octet, then the value.
    public mutating func readFieldValue() throws(AMQPWireError) -> FieldValue {
        try readFieldValue(depth: 0)
    }

    /// Writes one field value: its type octet, then the value. Encoding uses RabbitMQ's
    /// letters ('s' for int16, 'l' for int64).
    public mutating func writeFieldValue(_ value: FieldValue) {
        switch value {
        case .bool(let v): writeMultipleIntegers(UInt8(ascii: "t"), UInt8(v ? 1 : 0))
        case .int8(let v): writeMultipleIntegers(UInt8(ascii: "b"), v)
        case .uint8(let v): writeMultipleIntegers(UInt8(ascii: "B"), v)
        case .int16(let v): writeMultipleIntegers(UInt8(ascii: "s"), v)
        case .uint16(let v): writeMultipleIntegers(UInt8(ascii: "u"), v)
        case .int32(let v): writeMultipleIntegers(UInt8(ascii: "I"), v)
        case .uint32(let v): writeMultipleIntegers(UInt8(ascii: "i"), v)
        case .int64(let v): writeMultipleIntegers(UInt8(ascii: "l"), v)
        case .float(let v): writeMultipleIntegers(UInt8(ascii: "f"), v.bitPattern)
        case .double(let v): writeMultipleIntegers(UInt8(ascii: "d"), v.bitPattern)
        case .decimal(let scale, let v): writeMultipleIntegers(UInt8(ascii: "D"), scale, v)
        case .longString(let bytes):
            writeInteger(UInt8(ascii: "S"))
            writeLongString(bytes)
        case .array(let values):
            writeInteger(UInt8(ascii: "A"))
            let lengthIndex = writerIndex
            writeInteger(UInt32(0))
            for v in values { writeFieldValue(v) }
            setInteger(UInt32(truncatingIfNeeded: writerIndex - lengthIndex - 4), at: lengthIndex)
        case .timestamp(let v): writeMultipleIntegers(UInt8(ascii: "T"), v)
        case .table(let table):
            writeInteger(UInt8(ascii: "F"))
            writeFieldTable(table)
        case .void: writeInteger(UInt8(ascii: "V"))
        case .byteArray(let bytes):
            writeInteger(UInt8(ascii: "x"))
            writeLongString(bytes)
        }
    }

    private mutating func readLengthPrefixedSlice(_ what: StaticString) throws(AMQPWireError) -> ByteBuffer {
        guard let length = getInteger(at: readerIndex, as: UInt32.self),
              UInt64(readableBytes) >= 4 + UInt64(length) else { throw .truncated(what) }
        moveReaderIndex(forwardBy: 4)
        return readSlice(length: Int(length))!
    }

    private mutating func readFieldTable(depth: Int) throws(AMQPWireError) -> FieldTable {
        var slice = try readLengthPrefixedSlice("field table")
        var entries: [(key: String, value: FieldValue)] = []
        while slice.readableBytes > 0 {
            let key = try slice.readShortString()
            let value = try slice.readFieldValue(depth: depth + 1)
            entries.append((key: key, value: value))
        }
        return FieldTable(entries)
    }

    private mutating func readFieldValue(depth: Int) throws(AMQPWireError) -> FieldValue {
        guard depth <= FieldTable.maximumNestingDepth else {
            throw AMQPWireError(.syntaxError, "field table nested deeper than \(FieldTable.maximumNestingDepth)")
        }
        guard let type = readInteger(as: UInt8.self) else { throw .truncated("field value") }
        switch type {
        case UInt8(ascii: "t"): return .bool(try readFixed(UInt8.self) != 0)
        case UInt8(ascii: "b"): return .int8(try readFixed(Int8.self))
        case UInt8(ascii: "B"): return .uint8(try readFixed(UInt8.self))
        case UInt8(ascii: "s"), UInt8(ascii: "U"): return .int16(try readFixed(Int16.self))
        case UInt8(ascii: "u"): return .uint16(try readFixed(UInt16.self))
        case UInt8(ascii: "I"): return .int32(try readFixed(Int32.self))
        case UInt8(ascii: "i"): return .uint32(try readFixed(UInt32.self))
        case UInt8(ascii: "l"), UInt8(ascii: "L"): return .int64(try readFixed(Int64.self))
        case UInt8(ascii: "f"): return .float(Float(bitPattern: try readFixed(UInt32.self)))
        case UInt8(ascii: "d"): return .double(Double(bitPattern: try readFixed(UInt64.self)))
        case UInt8(ascii: "D"):
            guard let (scale, value) = readMultipleIntegers(as: (UInt8, UInt32).self) else {
                throw .truncated("decimal")
            }
            return .decimal(scale: scale, value: value)
        case UInt8(ascii: "S"): return .longString(try readLongString())
        case UInt8(ascii: "A"):
            var slice = try readLengthPrefixedSlice("field array")
            var values: [FieldValue] = []
            while slice.readableBytes > 0 {
                values.append(try slice.readFieldValue(depth: depth + 1))
            }
            return .array(values)
        case UInt8(ascii: "T"): return .timestamp(try readFixed(UInt64.self))
        case UInt8(ascii: "F"): return .table(try readFieldTable(depth: depth))
        case UInt8(ascii: "V"): return .void
        case UInt8(ascii: "x"): return .byteArray(try readLongString())
        default:
            throw AMQPWireError(.syntaxError, "unknown field table type \(Self.describeType(type))")
        }
    }

    private mutating func readFixed<T: FixedWidthInteger>(_: T.Type) throws(AMQPWireError) -> T {
        guard let v = readInteger(as: T.self) else { throw .truncated("field value") }
        return v
    }

    private static func describeType(_ type: UInt8) -> String {
        if type >= 0x21 && type < 0x7F {
            return "'\(Character(Unicode.Scalar(type)))'"
        }
        return "0x" + String(type, radix: 16)
    }
}
