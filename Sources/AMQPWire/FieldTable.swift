// AMQP field tables and values, with every type RabbitMQ's clients send
// (see RabbitMQ's errata to the 0-9-1 field-table types).
import NIOCore

/// One value in a field table or field array.
public enum FieldValue: Hashable, Sendable {
    case bool(Bool)            // 't'
    case int8(Int8)            // 'b'
    case uint8(UInt8)          // 'B'
    case int16(Int16)          // 's' (RabbitMQ), 'U' accepted on decode
    case uint16(UInt16)        // 'u'
    case int32(Int32)          // 'I'
    case uint32(UInt32)        // 'i'
    case int64(Int64)          // 'l' (RabbitMQ), 'L' accepted on decode
    case float(Float)          // 'f'
    case double(Double)        // 'd'
    case decimal(scale: UInt8, value: UInt32) // 'D'
    case longString([UInt8])   // 'S'
    case array([FieldValue])   // 'A'
    case timestamp(UInt64)     // 'T'
    case table(FieldTable)     // 'F'
    case void                  // 'V'
    case byteArray([UInt8])    // 'x'
}

/// An ordered field table; keys are short strings. Order is kept so a table re-encodes to
/// the same bytes it was decoded from.
public struct FieldTable: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    public var entries: [(key: String, value: FieldValue)]

    public init(_ entries: [(key: String, value: FieldValue)] = []) { self.entries = entries }
    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        self.entries = elements.map { (key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }

    public subscript(key: String) -> FieldValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key: key, value: newValue))
            }
        }
    }

    public static func == (a: FieldTable, b: FieldTable) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}

extension FieldValue {
    /// The value of any integer type, widened.
    public var integerValue: Int64? {
        switch self {
        case .int8(let v): Int64(v)
        case .uint8(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int64(let v): v
        default: nil
        }
    }

    /// The text of a long string.
    public var stringValue: String? {
        if case .longString(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }
}

extension FieldValue {
    /// RabbitMQ's name for the value's type (rabbit_binary_parser), as its error texts show it.
    public var typeName: String {
        switch self {
        case .bool: "bool"
        case .int8: "byte"
        case .uint8: "unsignedbyte"
        case .int16: "short"
        case .uint16: "unsignedshort"
        case .int32: "signedint"
        case .uint32: "unsignedint"
        case .int64: "long"
        case .float: "float"
        case .double: "double"
        case .decimal: "decimal"
        case .longString: "longstr"
        case .array: "array"
        case .timestamp: "timestamp"
        case .table: "table"
        case .void: "void"
        case .byteArray: "binary"
        }
    }
}
