import Testing
@testable import RouterCore

@Suite("TopicMatcher")
struct TopicMatcherTests {
    // RabbitMQ's own table: deps/rabbit/test (topic1 in the exchange-type unit suite).
    static let bindings: [(String, String, String)] = [
        ("a.b.c", "t1", ""), ("a.*.c", "t2", ""), ("a.#.b", "t3", ""), ("a.b.b.c", "t4", ""),
        ("#", "t5", ""), ("#.#", "t6", ""), ("#.b", "t7", ""), ("*.*", "t8", ""), ("a.*", "t9", ""),
        ("*.b.c", "t10", ""), ("a.#", "t11", ""), ("a.#.#", "t12", ""), ("b.b.c", "t13", ""),
        ("a.b.b", "t14", ""), ("a.b", "t15", ""), ("b.c", "t16", ""), ("", "t17", ""),
        ("*.*.*", "t18", ""), ("vodka.martini", "t19", ""), ("a.b.c", "t20", ""), ("*.#", "t21", ""),
        ("#.*.#", "t22", ""), ("*.#.#", "t23", ""), ("#.#.#", "t24", ""), ("*", "t25", ""),
        ("#.b.#", "t26", ""), ("args-test", "t27", "bar"), ("args-test", "t27", "baz"),
    ]

    static let expected: [(String, [String])] = [
        ("a.b.c", ["t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23", "t24", "t26"]),
        ("a.b", ["t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23", "t24", "t26"]),
        ("a.b.b", ["t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t24", "t26"]),
        ("", ["t5", "t6", "t17", "t24"]),
        ("b.c.c", ["t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"]),
        ("a.a.a.a.a", ["t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"]),
        ("vodka.gin", ["t5", "t6", "t8", "t21", "t22", "t23", "t24"]),
        ("vodka.martini", ["t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"]),
        ("b.b.c", ["t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24", "t26"]),
        ("nothing.here.at.all", ["t5", "t6", "t21", "t22", "t23", "t24"]),
        ("oneword", ["t5", "t6", "t21", "t22", "t23", "t24", "t25"]),
        ("args-test", ["t5", "t6", "t21", "t22", "t23", "t24", "t25", "t27"]),
    ]

    // After removing bindings 1, 5, 11, 19, 21 and 28 (1-based) of the table above.
    static let expectedAfterRemoval: [(String, [String])] = [
        ("a.b.c", ["t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t24", "t26"]),
        ("a.b", ["t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t24", "t26"]),
        ("a.b.b", ["t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t24", "t26"]),
        ("", ["t6", "t17", "t24"]),
        ("b.c.c", ["t6", "t18", "t22", "t23", "t24", "t26"]),
        ("a.a.a.a.a", ["t6", "t12", "t22", "t23", "t24"]),
        ("vodka.gin", ["t6", "t8", "t22", "t23", "t24"]),
        ("vodka.martini", ["t6", "t8", "t22", "t23", "t24"]),
        ("b.b.c", ["t6", "t10", "t13", "t18", "t22", "t23", "t24", "t26"]),
        ("nothing.here.at.all", ["t6", "t22", "t23", "t24"]),
        ("oneword", ["t6", "t22", "t23", "t24", "t25"]),
        ("args-test", ["t6", "t22", "t23", "t24", "t25", "t27"]),
    ]

    // The trie stores one value per binding; (pattern, queue, args) identifies a binding.
    struct Value: Hashable, Sendable { var queue: String; var args: String }

    static func matches(_ trie: TopicMatcher.Trie<Value>, _ key: String) -> [String] {
        var queues = Set<String>()
        trie.forEachMatch(routingKey: key) { queues.insert($0.queue) }
        return queues.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }
    }

    @Test("RabbitMQ's topic routing table, before and after removing bindings")
    func rabbitMQTable() {
        var trie = TopicMatcher.Trie<Value>()
        for (pattern, queue, args) in Self.bindings { trie.insert(pattern: pattern, value: Value(queue: queue, args: args)) }
        #expect(trie.count == 28)
        for (key, queues) in Self.expected {
            #expect(Self.matches(trie, key) == queues, "routing key '\(key)'")
        }
        for n in [1, 5, 11, 19, 21, 28] {
            let (pattern, queue, args) = Self.bindings[n - 1]
            let removed = trie.remove(pattern: pattern, value: Value(queue: queue, args: args))
            #expect(removed)
        }
        for (key, queues) in Self.expectedAfterRemoval {
            #expect(Self.matches(trie, key) == queues, "routing key '\(key)'")
        }
        for (pattern, queue, args) in Self.bindings {
            trie.remove(pattern: pattern, value: Value(queue: queue, args: args))
        }
        #expect(trie.isEmpty)
        #expect(trie.root.isEmpty, "removal prunes every node")
        #expect(Self.matches(trie, "a.b.c").isEmpty)
    }

    @Test("edge cases of words, * and #", arguments: [
        ("", "", true), ("#", "", true), ("*", "", false), ("", "a", false),
        ("#", "anything.at.all", true), ("a.#", "a", true), ("#.a", "a", true), ("a.#.b", "a.b", true),
        ("a.#.b", "a.x.y.b", true), ("a.*.b", "a.b", false), ("a.*.b", "a..b", true),
        ("a..b", "a..b", true), ("a.b", "a..b", false), ("*.*", "a.", true), ("*", "a.", false),
        ("a.", "a", false), ("a", "a.", false), ("*", ".", false), ("*.*", ".", true), ("#", ".", true),
        ("a.*", "a.#", true), ("a.#", "a.*", true), ("#.#.#", "", true), ("#.*.#", "", false),
        ("a.*.#", "a", false), ("a.*.#", "a.b", true), ("*.b.#", "a.b.c.d", true),
        ("A", "a", false), ("naïve.*", "naïve.x", true),
    ] as [(String, String, Bool)])
    func edges(pattern: String, key: String, matches: Bool) {
        #expect(TopicMatcher.matches(pattern: pattern, routingKey: key) == matches)
    }

    @Test("words split as RabbitMQ splits them")
    func words() {
        #expect(TopicMatcher.words("").isEmpty)
        #expect(TopicMatcher.words("a") == ["a"])
        #expect(TopicMatcher.words("a..b") == ["a", "", "b"])
        #expect(TopicMatcher.words(".") == ["", ""])
        #expect(TopicMatcher.words("a.") == ["a", ""])
    }

    @Test("a value inserted twice under one pattern needs two removes")
    func multiplicity() {
        var trie = TopicMatcher.Trie<String>()
        trie.insert(pattern: "a.*", value: "q")
        trie.insert(pattern: "a.*", value: "q")
        let first = trie.remove(pattern: "a.*", value: "q")
        #expect(first)
        #expect(TopicMatcher.matches(pattern: "a.*", routingKey: "a.b"))
        var hits = 0
        trie.forEachMatch(routingKey: "a.b") { _ in hits += 1 }
        #expect(hits == 1)
        let second = trie.remove(pattern: "a.*", value: "q")
        let third = trie.remove(pattern: "a.*", value: "q")
        let missing = trie.remove(pattern: "x.y", value: "q")
        #expect(second && !third && !missing)
        #expect(trie.isEmpty)
    }
}
