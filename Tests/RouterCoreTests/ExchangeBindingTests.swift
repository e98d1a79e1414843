import AMQPWire
import BrokerModel
import RouterCore
import Testing

@Suite("Exchange-to-exchange bindings and alternate exchanges")
struct ExchangeBindingTests {
    typealias T = TopologyTests
    let vhost = VHost.default

    func e2e(_ source: String, _ destination: String, _ key: String = "") -> Binding {
        Binding(source: ExchangeName(source), destination: .exchange(ExchangeName(destination)), routingKey: key)
    }

    func topology() throws -> Topology {
        var t = Topology()
        try t.declareExchange(T.x("front", .topic), passive: false, in: vhost)
        try t.declareExchange(T.x("back", .fanout), passive: false, in: vhost)
        t.addQueue(T.q("q1"))
        t.addQueue(T.q("q2", partition: 1))
        try t.bind(T.b("front", "q1", "a.*"), in: vhost)
        try t.bind(T.b("back", "q2"), in: vhost)
        try t.bind(e2e("front", "back", "b.#"), in: vhost)
        return t
    }

    @Test("a message follows exchange bindings to the destination's queues")
    func followsBindings() throws {
        let t = try topology()
        #expect(T.names(try t.route(exchange: ExchangeName("front"), routingKey: "b.x", headers: nil, in: vhost)) == ["q2"])
        #expect(T.names(try t.route(exchange: ExchangeName("front"), routingKey: "a.x", headers: nil, in: vhost)) == ["q1"])
    }

    @Test("cycles are followed once and queues come once")
    func cycles() throws {
        var t = try topology()
        try t.bind(e2e("back", "front", "#"), in: vhost)
        try t.bind(T.b("front", "q2", "#"), in: vhost)
        let routed = try t.route(exchange: ExchangeName("front"), routingKey: "b.y", headers: nil, in: vhost)
        #expect(T.names(routed) == ["q2"])
    }

    @Test("deleting the destination exchange removes the bindings that lead to it")
    func deleteDestination() throws {
        var t = try topology()
        try t.deleteExchange(ExchangeName("back"), ifUnused: false, in: vhost)
        #expect(!t.bindings(in: vhost).contains(e2e("front", "back", "b.#")))
        #expect(try t.route(exchange: ExchangeName("front"), routingKey: "b.x", headers: nil, in: vhost).isEmpty)
    }

    @Test("binding to a missing destination exchange is 404; to the default exchange 403")
    func errors() throws {
        var t = try topology()
        #expect(T.error { try t.bind(e2e("front", "nope"), in: vhost) }?.code == 404)
        #expect(T.error { try t.bind(e2e("front", ""), in: vhost) }?.code == 403)
    }

    @Test("an exchange that routes nowhere hands the message to its alternate exchange")
    func alternateExchange() throws {
        var t = try topology()
        let args: FieldTable = ["alternate-exchange": .longString(Array("back".utf8))]
        try t.declareExchange(ExchangeDefinition(name: ExchangeName("main"), type: .direct, arguments: args), passive: false, in: vhost)
        t.addQueue(T.q("q3"))
        try t.bind(T.b("main", "q3", "known"), in: vhost)
        #expect(T.names(try t.route(exchange: ExchangeName("main"), routingKey: "known", headers: nil, in: vhost)) == ["q3"])
        #expect(T.names(try t.route(exchange: ExchangeName("main"), routingKey: "other", headers: nil, in: vhost)) == ["q2"])
    }

    @Test("headers are decoded only when a headers exchange is reached")
    func lazyHeaders() throws {
        let t = try topology()
        var decoded = 0
        _ = try t.route(exchange: ExchangeName("front"), routingKey: "b.x", headers: { decoded += 1; return nil }, in: vhost)
        #expect(decoded == 0)
    }
}
