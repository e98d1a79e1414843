// JSON for the management API: a small value type that keeps object keys in the order they
// were written (so answers read like RabbitMQ's), its text, its parsing, and the mapping
// between AMQP field tables and JSON that RabbitMQ's management plugin uses for `arguments`
// (rabbit_mgmt_format:amqp_table / rabbit_mgmt_util:args): strings ↔ longstr, integers ↔
// long, floats ↔ double, booleans, nested objects ↔ tables, lists ↔ arrays.
import AMQPWire
import Foundation

enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Keys in the order written.
    case object([(key: String, value: JSON)])

    static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    static func int<T: BinaryInteger>(_ value: T) -> JSON { .int(Int64(clamping: value)) }

    /// The value under `key` of an object.
    subscript(key: String) -> JSON? {
        guard case .object(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var arrayValue: [JSON]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A flag as RabbitMQ's management plugin reads it: a JSON boolean or the strings
    /// "true"/"false" (rabbitmqadmin sends strings).
    var flagValue: Bool? {
        switch self {
        case .bool(let flag): flag
        case .string("true"): true
        case .string("false"): false
        default: nil
        }
    }

    // MARK: Text

    var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "null"
        case .string(let value): out += JSONText.string(value)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let entries):
            out += "{"
            for (i, entry) in entries.enumerated() {
                if i > 0 { out += "," }
                out += JSONText.string(entry.key)
                out += ":"
                entry.value.write(into: &out)
            }
            out += "}"
        }
    }

    // MARK: Parsing

    struct ParseError: Error {}

    /// Parses a request body; object keys come out sorted (JSON objects are unordered).
    static func parse(_ bytes: some Collection<UInt8>) throws -> JSON {
        do {
            return try JSONDecoder().decode(JSON.self, from: Data(bytes))
        } catch {
            throw ParseError()
        }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(integerLiteral value: Int64) { self = .int(value) }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements.map { (key: $0.0, value: $0.1) }) }
    init(nilLiteral: ()) { self = .null }
}

extension JSON: Decodable {
    init(from decoder: Decoder) throws {
        if let container = try? decoder.container(keyedBy: AnyKey.self) {
            var entries: [(key: String, value: JSON)] = []
            for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                entries.append((key.stringValue, try container.decode(JSON.self, forKey: key)))
            }
            self = .object(entries)
            return
        }
        if var container = try? decoder.unkeyedContainer() {
            var items: [JSON] = []
            while !container.isAtEnd { items.append(try container.decode(JSON.self)) }
            self = .array(items)
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let flag = try? value.decode(Bool.self) {
            self = .bool(flag)
        } else if let integer = try? value.decode(Int64.self) {
            self = .int(integer)
        } else if let number = try? value.decode(Double.self) {
            self = .double(number)
        } else {
            self = .string(try value.decode(String.self))
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

// MARK: Field tables

extension JSON {
    init(_ table: FieldTable) {
        self = .object(table.entries.map { (key: $0.key, value: JSON($0.value)) })
    }

    init(_ value: FieldValue) {
        switch value {
        case .bool(let flag): self = .bool(flag)
        case .int8(let v): self = .int(v)
        case .uint8(let v): self = .int(v)
        case .int16(let v): self = .int(v)
        case .uint16(let v): self = .int(v)
        case .int32(let v): self = .int(v)
        case .uint32(let v): self = .int(v)
        case .int64(let v): self = .int(v)
        case .timestamp(let v): self = .int(v)
        case .float(let v): self = .double(Double(v))
        case .double(let v): self = .double(v)
        case .decimal(let scale, let v): self = .double(Double(v) / pow(10, Double(scale)))
        case .longString(let bytes), .byteArray(let bytes): self = .string(String(decoding: bytes, as: UTF8.self))
        case .array(let items): self = .array(items.map(JSON.init))
        case .table(let table): self = JSON(table)
        case .void: self = .null
        }
    }

    /// The field table of an `arguments` object (nil when this is not an object).
    var fieldTable: FieldTable? {
        switch self {
        case .object(let entries): FieldTable(entries.map { (key: $0.key, value: $0.value.fieldValue) })
        case .null: FieldTable()
        default: nil
        }
    }

    var fieldValue: FieldValue {
        switch self {
        case .null: .void
        case .bool(let flag): .bool(flag)
        case .int(let v): .int64(v)
        case .double(let v): .double(v)
        case .string(let text): .longString(Array(text.utf8))
        case .array(let items): .array(items.map(\.fieldValue))
        case .object: .table(fieldTable ?? FieldTable())
        }
    }
}
