// Topic exchange matching with RabbitMQ's exact semantics (rabbit_db_topic_exchange.erl):
// - keys and patterns split on "."; every piece is a word, empty ones included, so "a..b"
//   has three words and "a." two; the empty key "" has NO words at all;
// - "*" matches exactly one word (so "*" does not match ""), "#" matches zero or more words
//   (so "#" matches "", "a.#" matches "a", "#.a" matches "a");
// - a word that is literally "*" or "#" in a routing key is just a word.
// The trie mirrors RabbitMQ's: one edge per pattern word, values at the node the pattern ends
// at, and matching walks the literal word, "*" and "#" edges from each node.

/// RabbitMQ topic matching: a one-off `matches` and a `Trie` for an exchange's bindings.
public enum TopicMatcher {
    /// The words of a routing key or binding pattern, split as RabbitMQ splits them.
    public static func words(_ key: String) -> [Substring] {
        if key.isEmpty { return [] }
        return key.split(separator: ".", omittingEmptySubsequences: false)
    }

    /// Whether `routingKey` matches the binding `pattern`.
    public static func matches(pattern: String, routingKey: String) -> Bool {
        var trie = Trie<Int>()
        trie.insert(pattern: pattern, value: 0)
        var hit = false
        trie.forEachMatch(routingKey: routingKey) { _ in hit = true }
        return hit
    }

    /// A trie of binding patterns, each carrying a value (the bound queue). A value may be
    /// inserted several times under one pattern (bindings that differ only by arguments); each
    /// insert needs its own remove.
    public struct Trie<Value: Hashable>: Sendable where Value: Sendable {
        struct Node: Sendable {
            // Substring keys let a lookup use a routing key's words without copying them.
            var children: [Substring: Node] = [:]
            var values: [Value] = []
            var isEmpty: Bool { children.isEmpty && values.isEmpty }
        }

        var root = Node()
        /// How many (pattern, value) entries the trie holds.
        public private(set) var count = 0

        public init() {}

        public var isEmpty: Bool { count == 0 }

        /// Adds `value` under `pattern`.
        public mutating func insert(pattern: String, value: Value) {
            Self.insert(&root, TopicMatcher.words(pattern)[...], value)
            count += 1
        }

        /// Removes one occurrence of `value` under `pattern`; false if there was none.
        @discardableResult
        public mutating func remove(pattern: String, value: Value) -> Bool {
            let removed = Self.remove(&root, TopicMatcher.words(pattern)[...], value)
            if removed { count -= 1 }
            return removed
        }

        /// Calls `body` with the value of every pattern that matches `routingKey`, once per
        /// matching entry; a value can come more than once (callers deduplicate).
        public func forEachMatch(routingKey: String, _ body: (Value) -> Void) {
            // The key's words go in a temporary (stack) buffer, not an array: no allocation
            // per publish.
            let dot = UInt8(ascii: ".")
            guard !routingKey.isEmpty else {  // the empty key has no words at all
                Self.match(root, UnsafeBufferPointer(start: nil, count: 0), 0, body)
                return
            }
            let count = routingKey.utf8.reduce(1) { $1 == dot ? $0 + 1 : $0 }
            withUnsafeTemporaryAllocation(of: Substring.self, capacity: count) { buffer in
                var filled = 0
                do {
                    var start = routingKey.startIndex
                    var index = routingKey.utf8.startIndex
                    while index < routingKey.utf8.endIndex {
                        if routingKey.utf8[index] == dot {
                            (buffer.baseAddress! + filled).initialize(to: routingKey[start..<index])
                            filled += 1
                            start = routingKey.utf8.index(after: index)
                        }
                        index = routingKey.utf8.index(after: index)
                    }
                    (buffer.baseAddress! + filled).initialize(to: routingKey[start...])
                    filled += 1
                }
                Self.match(root, UnsafeBufferPointer(rebasing: buffer[0..<filled]), 0, body)
                buffer.baseAddress!.deinitialize(count: filled)
            }
        }

        private static func insert(_ node: inout Node, _ words: ArraySlice<Substring>, _ value: Value) {
            guard let word = words.first else {
                node.values.append(value)
                return
            }
            insert(&node.children[word, default: Node()], words.dropFirst(), value)
        }

        private static func remove(_ node: inout Node, _ words: ArraySlice<Substring>, _ value: Value) -> Bool {
            guard let word = words.first else {
                guard let index = node.values.firstIndex(of: value) else { return false }
                node.values.remove(at: index)
                return true
            }
            guard node.children[word] != nil else { return false }
            let removed = remove(&node.children[word]!, words.dropFirst(), value)
            // Prune the path as RabbitMQ's remove_path_if_empty does, so the trie stays small.
            if removed, node.children[word]!.isEmpty { node.children[word] = nil }
            return removed
        }

        private static var star: Substring { "*" }
        private static var hash: Substring { "#" }

        // rabbit_db_topic_exchange:trie_match/5.
        private static func match(_ node: Node, _ words: UnsafeBufferPointer<Substring>, _ index: Int,
                                  _ body: (Value) -> Void) {
            if index == words.count {
                for value in node.values { body(value) }
                // A trailing "#" matches zero words.
                if let any = node.children[hash] { match(any, words, index, body) }
                return
            }
            if !node.children.isEmpty {
                if let next = node.children[words[index]] { match(next, words, index + 1, body) }
                if let next = node.children[star] { match(next, words, index + 1, body) }
                if let any = node.children[hash] { skipAny(any, words, index, body) }
            }
        }

        // rabbit_db_topic_exchange:trie_match_skip_any/5: "#" swallows 0…n remaining words.
        private static func skipAny(_ node: Node, _ words: UnsafeBufferPointer<Substring>, _ index: Int,
                                    _ body: (Value) -> Void) {
            var next = index
            while next < words.count {
                match(node, words, next, body)
                next += 1
            }
            match(node, words, words.count, body)
        }
    }
}
