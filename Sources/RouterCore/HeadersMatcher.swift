// Headers exchange matching with RabbitMQ's semantics (rabbit_exchange_type_headers.erl):
// - "x-match" is "all" (the default, also for any unrecognised value), "any", "all-with-x" or
//   "any-with-x"; a binding's "x-match" key is never itself matched;
// - plain all/any ignore the binding's other keys that start with "x-"; the -with-x kinds
//   match them like any other key;
// - a binding value of type void matches on the header's presence alone;
// - values compare as Erlang's `==` compares RabbitMQ's decoded terms: the field *type* is
//   ignored at the top level, so every integer type and timestamps compare numerically with
//   each other and with floats (1 == 1.0), a long string equals a byte array with the same
//   bytes, booleans equal only booleans, decimals equal decimals with the same scale and value;
//   inside arrays and nested tables each element's type must be the same too;
// - "all" with no keys to match matches every message; "any" with none matches nothing;
// - a message's header that appears twice counts by its first occurrence (keysort is stable).
import AMQPWire

/// RabbitMQ headers-exchange matching of message headers against binding arguments.
public enum HeadersMatcher {
    /// The binding's "x-match" mode.
    public enum MatchKind: String, Sendable, Hashable {
        case all
        case any
        case allWithX = "all-with-x"
        case anyWithX = "any-with-x"

        /// Whether keys starting with "x-" (other than x-match) take part in matching.
        public var includesXKeys: Bool { self == .allWithX || self == .anyWithX }
        var isAll: Bool { self == .all || self == .allWithX }
    }

    /// The kind a binding asks for; anything but a long string naming a kind means `.all`, as
    /// RabbitMQ's parse_x_match does for bindings it did not validate.
    public static func matchKind(of arguments: FieldTable) -> MatchKind {
        if case .longString(let bytes)? = arguments["x-match"],
           let kind = MatchKind(rawValue: String(decoding: bytes, as: UTF8.self)) {
            return kind
        }
        return .all
    }

    /// Whether a message with `headers` (nil: no headers property) matches a binding with
    /// `arguments`.
    public static func matches(arguments: FieldTable, headers: FieldTable?) -> Bool {
        let kind = matchKind(of: arguments)
        var anyMatched = false
        for entry in arguments.entries {
            if entry.key == "x-match" { continue }
            if !kind.includesXKeys, entry.key.hasPrefix("x-") { continue }
            let matched: Bool
            if let value = headers.flatMap({ firstValue(entry.key, in: $0) }) {
                if case .void = entry.value { matched = true } else { matched = termsEqual(entry.value, value) }
            } else {
                matched = false
            }
            if kind.isAll {
                if !matched { return false }
            } else if matched {
                return true
            }
            anyMatched = anyMatched || matched
        }
        return kind.isAll ? true : anyMatched
    }

    /// RabbitMQ's validate_binding for headers exchanges: x-match, when present, must be a long
    /// string naming a kind. Returns the 406 a bind gets otherwise.
    public static func validate(arguments: FieldTable) -> TopologyError? {
        guard let value = arguments["x-match"] else { return nil }
        guard case .longString(let bytes) = value else {
            return .preconditionFailed(
                "Invalid x-match field type \(value.typeName) (value \(erlangFormat(value))); expected longstr")
        }
        if MatchKind(rawValue: String(decoding: bytes, as: UTF8.self)) != nil { return nil }
        return .preconditionFailed(
            "Invalid x-match field value \(erlangFormat(value)); expected all, any, all-with-x, or any-with-x")
    }

    private static func firstValue(_ key: String, in table: FieldTable) -> FieldValue? {
        for entry in table.entries where entry.key == key { return entry.value }
        return nil
    }

    // MARK: Erlang term equality

    /// Erlang `==` on the terms RabbitMQ decodes two field values to, ignoring their types.
    public static func termsEqual(_ a: FieldValue, _ b: FieldValue) -> Bool {
        if let x = Numeric(a), let y = Numeric(b) { return x == y }
        switch (a, b) {
        case (.bool(let x), .bool(let y)): return x == y
        case (.void, .void): return true
        case (.decimal(let s1, let v1), .decimal(let s2, let v2)): return s1 == s2 && v1 == v2
        case (.longString(let x), .longString(let y)), (.longString(let x), .byteArray(let y)),
             (.byteArray(let x), .longString(let y)), (.byteArray(let x), .byteArray(let y)):
            return x == y
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { typedEqual($0, $1) }
        case (.table(let x), .table(let y)):
            return x.entries.count == y.entries.count && zip(x.entries, y.entries).allSatisfy {
                $0.key == $1.key && typedEqual($0.value, $1.value)
            }
        default:
            return false
        }
    }

    // Inside arrays and tables RabbitMQ keeps {Type, Value} pairs, so the type must match too.
    private static func typedEqual(_ a: FieldValue, _ b: FieldValue) -> Bool {
        a.typeName == b.typeName && termsEqual(a, b)
    }

    // Enough of Erlang's ~tp to reproduce RabbitMQ's error texts for scalar values.
    static func erlangFormat(_ value: FieldValue) -> String {
        switch value {
        case .longString(let bytes), .byteArray(let bytes): "<<\"\(String(decoding: bytes, as: UTF8.self))\">>"
        case .bool(let b): b ? "true" : "false"
        case .void: "undefined"
        case .decimal(let scale, let v): "{\(scale),\(v)}"
        default:
            if let n = Numeric(value) { n.description } else { "\(value)" }
        }
    }

    /// A number as Erlang sees it: integers of any width (and timestamps) or floats.
    struct Numeric: Equatable, CustomStringConvertible {
        enum Storage: Equatable { case signed(Int64), unsigned(UInt64), float(Double) }
        var storage: Storage

        init?(_ value: FieldValue) {
            switch value {
            case .int8(let v): storage = .signed(Int64(v))
            case .uint8(let v): storage = .signed(Int64(v))
            case .int16(let v): storage = .signed(Int64(v))
            case .uint16(let v): storage = .signed(Int64(v))
            case .int32(let v): storage = .signed(Int64(v))
            case .uint32(let v): storage = .signed(Int64(v))
            case .int64(let v): storage = .signed(v)
            case .timestamp(let v): storage = .unsigned(v)
            case .float(let v): storage = .float(Double(v))
            case .double(let v): storage = .float(v)
            default: return nil
            }
        }

        var description: String {
            switch storage {
            case .signed(let v): "\(v)"
            case .unsigned(let v): "\(v)"
            case .float(let v): "\(v)"
            }
        }

        static func == (a: Numeric, b: Numeric) -> Bool {
            switch (a.storage, b.storage) {
            case (.signed(let x), .signed(let y)): x == y
            case (.unsigned(let x), .unsigned(let y)): x == y
            case (.signed(let x), .unsigned(let y)), (.unsigned(let y), .signed(let x)): x >= 0 && UInt64(x) == y
            case (.float(let x), .float(let y)): x == y
            case (.float(let d), .signed(let i)), (.signed(let i), .float(let d)): Int64(exactly: d) == i
            case (.float(let d), .unsigned(let u)), (.unsigned(let u), .float(let d)): UInt64(exactly: d) == u
            }
        }
    }
}
