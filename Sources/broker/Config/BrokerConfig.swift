// The settings from a configuration file, the environment and the command line, in that
// order of precedence (a flag wins), read with swift-configuration: a JSON file provider and
// an environment provider whose keys carry the prefix "broker" (BROKER_PORT …). A value that
// is present but invalid is an error naming the key and where it came from, never a silent
// default; an unknown key in the file is an error too (a typo must not pass unnoticed).
import Configuration
import Foundation
import SystemPackage

struct BrokerConfig: Sendable {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    enum Value: Equatable, Sendable {
        case integer(Int)
        case number(Double)
        case flag(Bool)
        case text(String)
        case texts([String])

        var text: String {
            switch self {
            case .integer(let value): "\(value)"
            case .number(let value): "\(value)"
            case .flag(let value): "\(value)"
            case .text(let value): value
            case .texts(let values): values.joined(separator: ";")
            }
        }
    }

    /// The configuration file, if any (`--config`, else $BROKER_CONFIG).
    let file: String?
    private let reader: ConfigReader
    private let fileKeys: Set<String>
    private let environment: [String: String]

    /// Lists in the environment are separated by ';' (a user's tags use ',').
    static let listSeparator: Character = ";"

    static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> BrokerConfig {
        let path = file ?? environment["BROKER_CONFIG"]
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment, arraySeparator: listSeparator).prefixKeys(with: ["broker"]),
        ]
        var keys: Set<String> = []
        if let path {
            keys = try topLevelKeys(of: path)
            if let unknown = keys.subtracting(Setting.all.map(\.key)).sorted().first {
                throw Invalid(description: "\(path): unknown key '\(unknown)'\(suggestion(for: unknown))")
            }
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
            } catch {
                throw Invalid(description: "\(path): \(error)")
            }
        }
        return BrokerConfig(file: path, reader: ConfigReader(providers: providers), fileKeys: keys, environment: environment)
    }

    /// Where the value of `setting` comes from when no flag gives it; nil for its default.
    func source(of setting: Setting) -> String? {
        if environment[setting.environmentName] != nil { return "environment variable \(setting.environmentName)" }
        if let file, fileKeys.contains(setting.key) { return file }
        return nil
    }

    /// The value the environment or the file gives, checked; nil when neither gives one.
    func value(of setting: Setting) throws -> Value? {
        guard let source = source(of: setting) else { return nil }
        let key = ConfigKey(setting.key)
        let value: Value
        do {
            switch setting.kind {
            case .integer: value = .integer(try reader.requiredInt(forKey: key))
            case .number:
                // A whole number in JSON reads as an integer.
                if let number = try? reader.requiredDouble(forKey: key) {
                    value = .number(number)
                } else {
                    value = .number(Double(try reader.requiredInt(forKey: key)))
                }
            case .flag: value = .flag(try reader.requiredBool(forKey: key))
            case .text, .choice: value = .text(try reader.requiredString(forKey: key))
            case .texts: value = .texts(try reader.requiredStringArray(forKey: key))
            }
        } catch {
            throw Invalid(description: "\(source): '\(setting.key)' must be \(setting.expected)")
        }
        try Self.check(value, of: setting, from: source)
        return value
    }

    /// Checks a value's range or choices.
    static func check(_ value: Value, of setting: Setting, from source: String) throws {
        let valid: Bool
        switch (setting.kind, value) {
        case (.integer(let range), .integer(let number)): valid = range.contains(number)
        case (.number(let range), .number(let number)): valid = range.contains(number)
        case (.choice(let choices), .text(let text)): valid = choices.contains(text)
        case (.text, .text(let text)): valid = !text.isEmpty
        case (.flag, .flag), (.texts, .texts): valid = true
        default: valid = false
        }
        guard valid else {
            throw Invalid(description: "\(source): '\(setting.key)' must be \(setting.expected), got '\(value.text)'")
        }
    }

    // MARK: Typed, with the flag first

    func integer(_ setting: Setting, flag: Int?) throws -> Int? {
        if let flag {
            try Self.check(.integer(flag), of: setting, from: "flag \(setting.flag)")
            return flag
        }
        guard case .integer(let value)? = try value(of: setting) else { return nil }
        return value
    }

    func number(_ setting: Setting, flag: Double?) throws -> Double? {
        if let flag {
            try Self.check(.number(flag), of: setting, from: "flag \(setting.flag)")
            return flag
        }
        guard case .number(let value)? = try value(of: setting) else { return nil }
        return value
    }

    func text(_ setting: Setting, flag: String?) throws -> String? {
        if let flag {
            try Self.check(.text(flag), of: setting, from: "flag \(setting.flag)")
            return flag
        }
        guard case .text(let value)? = try value(of: setting) else { return nil }
        return value
    }

    /// A flag can only switch the setting on.
    func flag(_ setting: Setting, flag: Bool) throws -> Bool {
        if flag { return true }
        guard case .flag(let value)? = try value(of: setting) else { return false }
        return value
    }

    func texts(_ setting: Setting, flag: [String], default fallback: [String] = []) throws -> [String] {
        if !flag.isEmpty { return flag }
        guard case .texts(let values)? = try value(of: setting) else { return fallback }
        return values
    }

    /// A setting nobody gave that has no default.
    static func missing(_ setting: Setting) -> Invalid {
        Invalid(description: "'\(setting.key)' is not set: give \(setting.flag), \(setting.environmentName) or '\(setting.key)' in the configuration file")
    }

    // MARK: The file's own shape

    private static func topLevelKeys(of path: String) throws -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "\(path): cannot read the configuration file")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Invalid(description: "\(path): not a JSON object")
        }
        return Set(object.keys)
    }

    private static func suggestion(for unknown: String) -> String {
        let near = Setting.all.map(\.key).min { distance($0, unknown) < distance($1, unknown) }
        guard let near, distance(near, unknown) <= 3 else { return "" }
        return " (did you mean '\(near)'?)"
    }

    /// Edit distance, for suggestions.
    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let old = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = old
            }
        }
        return row[b.count]
    }
}
