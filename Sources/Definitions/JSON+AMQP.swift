// JSON beyond writing it (BrokerTelemetry's): parsing request bodies and definitions files, and the mapping
// between AMQP field tables and JSON that RabbitMQ's management plugin uses for `arguments`
// (rabbit_mgmt_format:amqp_table / rabbit_mgmt_util:args): strings ↔ longstr, integers ↔
// long, floats ↔ double, booleans, nested objects ↔ tables, lists ↔ arrays.
import AMQPWire
import BrokerTelemetry
import Foundation

extension JSON {
    public struct ParseError: Error {}

    /// Parses a request body; object keys come out sorted (JSON objects are unordered).
    public static func parse(_ bytes: some Collection<UInt8>) throws -> JSON {
        do {
            return try JSONDecoder().decode(JSON.self, from: Data(bytes))
        } catch {
            throw ParseError()
        }
    }
}

extension JSON: Decodable {
    public init(from decoder: Decoder) throws {
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
    public init(_ table: FieldTable) {
        self = .object(table.entries.map { (key: $0.key, value: JSON($0.value)) })
    }

    public init(_ value: FieldValue) {
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
    public var fieldTable: FieldTable? {
        switch self {
        case .object(let entries): FieldTable(entries.map { (key: $0.key, value: $0.value.fieldValue) })
        case .null: FieldTable()
        default: nil
        }
    }

    public var fieldValue: FieldValue {
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
