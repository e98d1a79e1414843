// One of a permission entry's regular expressions. RabbitMQ searches it in the resource name
// with Erlang's re (PCRE), unanchored; Swift's Regex reads the same syntax for the patterns
// permissions use (anchors, classes, alternation, escapes, `\d`, non-capturing groups).
// Compiled once when the entry is set; ".*" and "" are answered without the engine.

/// A permission pattern and its compiled form.
public struct PermissionPattern: Hashable, Sendable {
    public let text: String
    private let matcher: Matcher

    private enum Matcher: Hashable, Sendable {
        case everything
        case nothing
        case regex(CompiledRegex)
    }

    public static let everything = PermissionPattern(validated: ".*", matcher: .everything)

    private init(validated text: String, matcher: Matcher) {
        self.text = text
        self.matcher = matcher
    }

    /// nil when `text` is not a regular expression.
    public init?(_ text: String) {
        switch text {
        case ".*": self = .everything
        // rabbit_auth_backend_internal: an empty pattern allows nothing (not even "").
        case "": self.init(validated: "", matcher: .nothing)
        default:
            guard let compiled = CompiledRegex(text) else { return nil }
            self.init(validated: text, matcher: .regex(compiled))
        }
    }

    public func matches(_ name: String) -> Bool {
        switch matcher {
        case .everything: true
        case .nothing: false
        case .regex(let compiled): compiled.matches(name)
        }
    }

    public static func == (a: PermissionPattern, b: PermissionPattern) -> Bool { a.text == b.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}

/// Swift's Regex is not Sendable: it is built and first run here, then only read (matching
/// does not change it), so sharing it between event loops is safe.
final class CompiledRegex: Hashable, @unchecked Sendable {
    private let regex: Regex<AnyRegexOutput>

    init?(_ text: String) {
        guard let regex = try? Regex(text) else { return nil }
        self.regex = regex
        _ = "".firstMatch(of: regex)  // compiles it now, before it is shared
    }

    func matches(_ name: String) -> Bool { name.firstMatch(of: regex) != nil }

    static func == (a: CompiledRegex, b: CompiledRegex) -> Bool { a === b }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
