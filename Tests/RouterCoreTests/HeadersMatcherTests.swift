import AMQPWire
import Testing
@testable import RouterCore

@Suite("HeadersMatcher")
struct HeadersMatcherTests {
    static func str(_ s: String) -> FieldValue { .longString(Array(s.utf8)) }

    @Test("x-match all (the default) needs every key with an equal value")
    func all() {
        let binding: FieldTable = ["format": Self.str("pdf"), "type": Self.str("report")]
        #expect(HeadersMatcher.matches(arguments: binding, headers: ["format": Self.str("pdf"), "type": Self.str("report"), "extra": .bool(true)]))
        #expect(!HeadersMatcher.matches(arguments: binding, headers: ["format": Self.str("pdf")]))
        #expect(!HeadersMatcher.matches(arguments: binding, headers: ["format": Self.str("pdf"), "type": Self.str("log")]))
        #expect(!HeadersMatcher.matches(arguments: binding, headers: nil))
        var explicit = binding
        explicit["x-match"] = Self.str("all")
        #expect(HeadersMatcher.matches(arguments: explicit, headers: ["type": Self.str("report"), "format": Self.str("pdf")]))
    }

    @Test("x-match any needs one key with an equal value")
    func any() {
        let binding: FieldTable = ["x-match": Self.str("any"), "format": Self.str("pdf"), "type": Self.str("report")]
        #expect(HeadersMatcher.matches(arguments: binding, headers: ["type": Self.str("report")]))
        #expect(HeadersMatcher.matches(arguments: binding, headers: ["format": Self.str("pdf"), "type": Self.str("log")]))
        #expect(!HeadersMatcher.matches(arguments: binding, headers: ["format": Self.str("zip")]))
        #expect(!HeadersMatcher.matches(arguments: binding, headers: nil))
    }

    @Test("no keys to match: all matches everything, any nothing")
    func empty() {
        #expect(HeadersMatcher.matches(arguments: [:], headers: nil))
        #expect(HeadersMatcher.matches(arguments: ["x-match": Self.str("all")], headers: ["a": .int32(1)]))
        #expect(!HeadersMatcher.matches(arguments: ["x-match": Self.str("any")], headers: ["a": .int32(1)]))
        // Only x- keys under plain all/any: they are ignored, so this is the empty case too.
        #expect(HeadersMatcher.matches(arguments: ["x-foo": Self.str("1")], headers: nil))
        #expect(!HeadersMatcher.matches(arguments: ["x-match": Self.str("any"), "x-foo": Self.str("1")], headers: ["x-foo": Self.str("1")]))
    }

    @Test("all-with-x and any-with-x match x- keys; plain all and any ignore them")
    func withX() {
        let headers: FieldTable = ["x-trace": Self.str("on"), "k": Self.str("v")]
        #expect(HeadersMatcher.matches(arguments: ["x-trace": Self.str("off"), "k": Self.str("v")], headers: headers))
        #expect(!HeadersMatcher.matches(arguments: ["x-match": Self.str("all-with-x"), "x-trace": Self.str("off"), "k": Self.str("v")], headers: headers))
        #expect(HeadersMatcher.matches(arguments: ["x-match": Self.str("all-with-x"), "x-trace": Self.str("on"), "k": Self.str("v")], headers: headers))
        #expect(!HeadersMatcher.matches(arguments: ["x-match": Self.str("any"), "x-trace": Self.str("on")], headers: headers))
        #expect(HeadersMatcher.matches(arguments: ["x-match": Self.str("any-with-x"), "x-trace": Self.str("on")], headers: headers))
        #expect(!HeadersMatcher.matches(arguments: ["x-match": Self.str("any-with-x"), "x-trace": Self.str("off")], headers: headers))
    }

    @Test("a void binding value matches on presence alone")
    func void() {
        let binding: FieldTable = ["present": .void]
        #expect(HeadersMatcher.matches(arguments: binding, headers: ["present": .int64(42)]))
        #expect(HeadersMatcher.matches(arguments: binding, headers: ["present": .void]))
        #expect(!HeadersMatcher.matches(arguments: binding, headers: ["other": .void]))
        // A void header does not equal a non-void binding value.
        #expect(!HeadersMatcher.matches(arguments: ["k": Self.str("")], headers: ["k": .void]))
    }

    @Test("values compare as Erlang terms: numbers by value across types, binaries by bytes")
    func termEquality() {
        #expect(HeadersMatcher.termsEqual(.int8(1), .int64(1)))
        #expect(HeadersMatcher.termsEqual(.uint32(7), .timestamp(7)))
        #expect(HeadersMatcher.termsEqual(.int32(2), .double(2.0)))
        #expect(HeadersMatcher.termsEqual(.float(0.5), .double(0.5)))
        #expect(!HeadersMatcher.termsEqual(.int32(2), .double(2.5)))
        #expect(!HeadersMatcher.termsEqual(.int64(-1), .timestamp(UInt64.max)))
        #expect(HeadersMatcher.termsEqual(Self.str("ab"), .byteArray(Array("ab".utf8))))
        #expect(!HeadersMatcher.termsEqual(Self.str("1"), .int32(1)))
        #expect(!HeadersMatcher.termsEqual(.bool(true), .int8(1)))
        #expect(HeadersMatcher.termsEqual(.decimal(scale: 2, value: 100), .decimal(scale: 2, value: 100)))
        #expect(!HeadersMatcher.termsEqual(.decimal(scale: 1, value: 10), .decimal(scale: 2, value: 100)))
        // Inside arrays RabbitMQ keeps each element's type, so the types must agree there.
        #expect(HeadersMatcher.termsEqual(.array([.int32(1)]), .array([.int32(1)])))
        #expect(!HeadersMatcher.termsEqual(.array([.int32(1)]), .array([.int64(1)])))
        #expect(HeadersMatcher.matches(arguments: ["n": .int8(5)], headers: ["n": .int64(5)]))
    }

    @Test("the first occurrence of a repeated header is the one compared")
    func duplicates() {
        let headers = FieldTable([(key: "k", value: Self.str("a")), (key: "k", value: Self.str("b"))])
        #expect(HeadersMatcher.matches(arguments: ["k": Self.str("a")], headers: headers))
        #expect(!HeadersMatcher.matches(arguments: ["k": Self.str("b")], headers: headers))
    }

    @Test("binding validation rejects a bad x-match with RabbitMQ's text")
    func validation() {
        #expect(HeadersMatcher.validate(arguments: ["x-match": Self.str("any-with-x")]) == nil)
        #expect(HeadersMatcher.validate(arguments: [:]) == nil)
        let bad = HeadersMatcher.validate(arguments: ["x-match": Self.str("some")])
        #expect(bad == TopologyError(code: 406, text: "PRECONDITION_FAILED - Invalid x-match field value <<\"some\">>; expected all, any, all-with-x, or any-with-x"))
        let badType = HeadersMatcher.validate(arguments: ["x-match": .int64(5)])
        #expect(badType == TopologyError(code: 406, text: "PRECONDITION_FAILED - Invalid x-match field type long (value 5); expected longstr"))
        #expect(HeadersMatcher.matchKind(of: ["x-match": .int64(5)]) == .all)
    }
}
