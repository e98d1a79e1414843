import AMQPWire
import BrokerModel
import Testing
@testable import RouterCore

@Suite("Topology")
struct TopologyTests {
    static let vhost = VHost.default

    static func x(_ name: String, _ type: ExchangeType = .direct, durable: Bool = false, autoDelete: Bool = false,
                  internal: Bool = false, arguments: FieldTable = [:]) -> ExchangeDefinition {
        ExchangeDefinition(name: ExchangeName(name), type: type, durable: durable, autoDelete: autoDelete,
                           internal: `internal`, arguments: arguments)
    }

    static func q(_ name: String, partition: Int = 0, owner: UInt64? = nil, vhost: VHost = .default) -> QueueRecord {
        QueueRecord(id: QueueID(vhost: vhost, name: QueueName(name)), partition: PartitionID(partition),
                    exclusiveOwner: owner.map(ConnectionID.init))
    }

    static func b(_ exchange: String, _ queue: String, _ key: String = "", _ args: FieldTable = [:]) -> Binding {
        Binding(source: ExchangeName(exchange), queue: QueueName(queue), routingKey: key, arguments: args)
    }

    static func names(_ records: [QueueRecord]) -> [String] { records.map(\.id.name.name) }

    static func error(_ body: () throws -> Void) -> TopologyError? {
        do { try body(); return nil } catch { return error as? TopologyError }
    }

    @Test("a new topology has the default and amq.* exchanges, all durable")
    func standardExchanges() {
        let t = Topology()
        let expected: [(String, ExchangeType)] = [("", .direct), ("amq.direct", .direct), ("amq.fanout", .fanout),
                                                  ("amq.topic", .topic), ("amq.headers", .headers), ("amq.match", .headers)]
        for (name, type) in expected {
            #expect(t.exchange(ExchangeName(name), in: Self.vhost)?.type == type)
            #expect(t.exchange(ExchangeName(name), in: Self.vhost)?.durable == true)
        }
        #expect(t.exchanges(in: Self.vhost).count == 6)
        // Any vhost reads as one with the standard exchanges.
        #expect(t.exchange(ExchangeName("amq.topic"), in: VHost("other"))?.type == .topic)
    }

    @Test("declare, redeclare the same, passive")
    func declare() throws {
        var t = Topology()
        try t.declareExchange(Self.x("logs", .fanout), passive: false, in: Self.vhost)
        try t.declareExchange(Self.x("logs", .fanout), passive: false, in: Self.vhost)
        // A passive declare compares nothing.
        try t.declareExchange(Self.x("logs", .topic, durable: true), passive: true, in: Self.vhost)
        #expect(t.exchange(ExchangeName("logs"), in: Self.vhost)?.type == .fanout)
        #expect(Self.error { try t.declareExchange(Self.x("nope"), passive: true, in: Self.vhost) }
            == TopologyError(code: 404, text: "NOT_FOUND - no exchange 'nope' in vhost '/'"))
        #expect(Self.error { try t.declareExchange(Self.x("nope"), passive: true, in: VHost("v1")) }?.text
            == "NOT_FOUND - no exchange 'nope' in vhost 'v1'")
    }

    @Test("redeclaring with other properties is 406 with RabbitMQ's text")
    func inequivalent() throws {
        var t = Topology()
        try t.declareExchange(Self.x("e"), passive: false, in: Self.vhost)
        let prefix = "PRECONDITION_FAILED - inequivalent arg "
        #expect(Self.error { try t.declareExchange(Self.x("e", .fanout), passive: false, in: Self.vhost) }
            == TopologyError(code: 406, text: prefix + "'type' for exchange 'e' in vhost '/': received 'fanout' but current is 'direct'"))
        #expect(Self.error { try t.declareExchange(Self.x("e", durable: true), passive: false, in: Self.vhost) }?.text
            == prefix + "'durable' for exchange 'e' in vhost '/': received 'true' but current is 'false'")
        #expect(Self.error { try t.declareExchange(Self.x("e", autoDelete: true), passive: false, in: Self.vhost) }?.text
            == prefix + "'auto_delete' for exchange 'e' in vhost '/': received 'true' but current is 'false'")
        #expect(Self.error { try t.declareExchange(Self.x("e", internal: true), passive: false, in: Self.vhost) }?.text
            == prefix + "'internal' for exchange 'e' in vhost '/': received 'true' but current is 'false'")
        let ae: FieldTable = ["alternate-exchange": .longString(Array("ae1".utf8))]
        try t.declareExchange(Self.x("f", arguments: ae), passive: false, in: Self.vhost)
        #expect(Self.error { try t.declareExchange(Self.x("f", arguments: ["alternate-exchange": .longString(Array("ae2".utf8))]), passive: false, in: Self.vhost) }?.text
            == prefix + "'alternate-exchange' for exchange 'f' in vhost '/': received 'ae2' but current is 'ae1'")
        // Other arguments are not compared (RabbitMQ compares alternate-exchange only).
        var other = ae
        other["x-whatever"] = .int32(1)
        try t.declareExchange(Self.x("f", arguments: other), passive: false, in: Self.vhost)
    }

    @Test("amq.* names are reserved on creation only; the default exchange is off limits")
    func reserved() throws {
        var t = Topology()
        #expect(Self.error { try t.declareExchange(Self.x("amq.custom"), passive: false, in: Self.vhost) }
            == TopologyError(code: 403, text: "ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'"))
        try t.declareExchange(Self.x("amq.direct", durable: true), passive: false, in: Self.vhost)
        #expect(Self.error { try t.declareExchange(Self.x("amq.direct"), passive: false, in: Self.vhost) }?.code == 406)
        let defaultRefused = TopologyError(code: 403, text: "ACCESS_REFUSED - operation not permitted on the default exchange")
        #expect(Self.error { try t.declareExchange(Self.x(""), passive: false, in: Self.vhost) } == defaultRefused)
        #expect(Self.error { try t.declareExchange(Self.x(""), passive: true, in: Self.vhost) } == defaultRefused)
        #expect(Self.error { try t.deleteExchange(.default, ifUnused: false, in: Self.vhost) } == defaultRefused)
        #expect(Self.error { try t.deleteExchange(ExchangeName("amq.direct"), ifUnused: false, in: Self.vhost) }
            == TopologyError(code: 403, text: "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed"))
        t.addQueue(Self.q("q"))
        #expect(Self.error { try t.bind(Self.b("", "q", "q"), in: Self.vhost) } == defaultRefused)
        #expect(Self.error { try t.unbind(Self.b("", "q", "q"), in: Self.vhost) } == defaultRefused)
    }

    @Test("delete: missing is fine, if-unused refuses while bound, bindings go with it")
    func delete() throws {
        var t = Topology()
        try t.deleteExchange(ExchangeName("never"), ifUnused: true, in: Self.vhost)
        try t.declareExchange(Self.x("e"), passive: false, in: Self.vhost)
        t.addQueue(Self.q("q"))
        try t.bind(Self.b("e", "q", "k"), in: Self.vhost)
        #expect(Self.error { try t.deleteExchange(ExchangeName("e"), ifUnused: true, in: Self.vhost) }
            == TopologyError(code: 406, text: "PRECONDITION_FAILED - exchange 'e' in vhost '/' in use"))
        try t.deleteExchange(ExchangeName("e"), ifUnused: false, in: Self.vhost)
        #expect(t.exchange(ExchangeName("e"), in: Self.vhost) == nil)
        #expect(t.bindings(in: Self.vhost).isEmpty)
        // Re-created, it starts without the old bindings.
        try t.declareExchange(Self.x("e"), passive: false, in: Self.vhost)
        #expect(try t.route(exchange: ExchangeName("e"), routingKey: "k", headers: nil, in: Self.vhost).isEmpty)
        try t.bind(Self.b("e", "q", "k"), in: Self.vhost)
        t.removeQueue(QueueID(vhost: Self.vhost, name: QueueName("q")))
        try t.deleteExchange(ExchangeName("e"), ifUnused: true, in: Self.vhost)
    }

    @Test("bind: 404s, duplicates are no-ops, unbind of what is not there is fine")
    func bindAndUnbind() throws {
        var t = Topology()
        t.addQueue(Self.q("q"))
        #expect(Self.error { try t.bind(Self.b("missing", "q", "k"), in: Self.vhost) }
            == TopologyError(code: 404, text: "NOT_FOUND - no exchange 'missing' in vhost '/'"))
        #expect(Self.error { try t.bind(Self.b("amq.direct", "nq", "k"), in: Self.vhost) }
            == TopologyError(code: 404, text: "NOT_FOUND - no queue 'nq' in vhost '/'"))
        // Both missing: the exchange is reported (RabbitMQ checks the source first).
        #expect(Self.error { try t.bind(Self.b("missing", "nq", "k"), in: Self.vhost) }?.text
            == "NOT_FOUND - no exchange 'missing' in vhost '/'")
        try t.bind(Self.b("amq.direct", "q", "k"), in: Self.vhost)
        try t.bind(Self.b("amq.direct", "q", "k"), in: Self.vhost)
        #expect(t.bindings(in: Self.vhost) == [Self.b("amq.direct", "q", "k")])
        try t.unbind(Self.b("amq.direct", "q", "other"), in: Self.vhost)
        try t.unbind(Self.b("missing", "q", "k"), in: Self.vhost)
        try t.unbind(Self.b("amq.direct", "nq", "k"), in: Self.vhost)
        try t.unbind(Self.b("amq.direct", "q", "k"), in: Self.vhost)
        #expect(t.bindings(in: Self.vhost).isEmpty)
        #expect(try t.route(exchange: ExchangeName("amq.direct"), routingKey: "k", headers: nil, in: Self.vhost).isEmpty)
        // Headers bindings are validated.
        #expect(Self.error { try t.bind(Self.b("amq.match", "q", "", ["x-match": .longString(Array("most".utf8))]), in: Self.vhost) }?.code == 406)
    }

    @Test("bindings that differ only by arguments are distinct, and route once")
    func argumentVariants() throws {
        var t = Topology()
        t.addQueue(Self.q("q"))
        try t.bind(Self.b("amq.direct", "q", "k", ["a": .int32(1)]), in: Self.vhost)
        try t.bind(Self.b("amq.direct", "q", "k", ["a": .int32(2)]), in: Self.vhost)
        #expect(t.bindings(in: Self.vhost).count == 2)
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.direct"), routingKey: "k", headers: nil, in: Self.vhost)) == ["q"])
        try t.unbind(Self.b("amq.direct", "q", "k", ["a": .int32(1)]), in: Self.vhost)
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.direct"), routingKey: "k", headers: nil, in: Self.vhost)) == ["q"])
    }

    @Test("removing a queue drops its bindings and auto-deletes exchanges left unbound")
    func removeQueue() throws {
        var t = Topology()
        try t.declareExchange(Self.x("auto", .fanout, autoDelete: true), passive: false, in: Self.vhost)
        try t.declareExchange(Self.x("keep", .fanout), passive: false, in: Self.vhost)
        t.addQueue(Self.q("q1"))
        t.addQueue(Self.q("q2"))
        try t.bind(Self.b("auto", "q1"), in: Self.vhost)
        try t.bind(Self.b("auto", "q2"), in: Self.vhost)
        try t.bind(Self.b("keep", "q1"), in: Self.vhost)
        t.removeQueue(QueueID(vhost: Self.vhost, name: QueueName("q1")))
        #expect(t.queue(QueueID(vhost: Self.vhost, name: QueueName("q1"))) == nil)
        #expect(t.bindings(in: Self.vhost) == [Self.b("auto", "q2")])
        #expect(t.exchange(ExchangeName("auto"), in: Self.vhost) != nil, "still has a binding")
        #expect(t.exchange(ExchangeName("keep"), in: Self.vhost) != nil, "not auto-delete")
        t.removeQueue(QueueID(vhost: Self.vhost, name: QueueName("q2")))
        #expect(t.exchange(ExchangeName("auto"), in: Self.vhost) == nil)
        #expect(t.bindings(in: Self.vhost).isEmpty)
        // An auto-delete exchange that never had a binding stays.
        try t.declareExchange(Self.x("fresh", autoDelete: true), passive: false, in: Self.vhost)
        #expect(t.exchange(ExchangeName("fresh"), in: Self.vhost) != nil)
    }

    @Test("unbinding the last binding deletes an auto-delete exchange")
    func unbindAutoDelete() throws {
        var t = Topology()
        try t.declareExchange(Self.x("auto", .topic, autoDelete: true), passive: false, in: Self.vhost)
        t.addQueue(Self.q("q"))
        try t.bind(Self.b("auto", "q", "a.*"), in: Self.vhost)
        try t.unbind(Self.b("auto", "q", "a.*"), in: Self.vhost)
        #expect(t.exchange(ExchangeName("auto"), in: Self.vhost) == nil)
    }

    @Test("exclusive queues of a closed connection go, with their bindings")
    func exclusive() throws {
        var t = Topology()
        t.addQueue(Self.q("mine1", owner: 7))
        t.addQueue(Self.q("mine2", owner: 7, vhost: VHost("v")))
        t.addQueue(Self.q("theirs", owner: 8))
        t.addQueue(Self.q("shared"))
        try t.bind(Self.b("amq.fanout", "mine1"), in: Self.vhost)
        let removed = t.removeExclusiveQueues(of: ConnectionID(7))
        #expect(removed == [QueueID(vhost: Self.vhost, name: QueueName("mine1")), QueueID(vhost: VHost("v"), name: QueueName("mine2"))])
        #expect(Self.names(t.queues(in: Self.vhost)) == ["shared", "theirs"])
        #expect(t.bindings(in: Self.vhost).isEmpty)
    }

    @Test("the default exchange routes to the queue named by the routing key")
    func defaultExchange() throws {
        var t = Topology()
        t.addQueue(Self.q("tasks", partition: 3))
        let routed = try t.route(exchange: .default, routingKey: "tasks", headers: nil, in: Self.vhost)
        #expect(routed == [Self.q("tasks", partition: 3)])
        #expect(try t.route(exchange: .default, routingKey: "nothing", headers: nil, in: Self.vhost).isEmpty)
        #expect(try t.route(exchange: .default, routingKey: "tasks", headers: nil, in: VHost("elsewhere")).isEmpty)
    }

    @Test("publishing to a missing exchange is 404, to an internal one 403")
    func publishErrors() throws {
        var t = Topology()
        #expect(Self.error { _ = try t.route(exchange: ExchangeName("gone"), routingKey: "", headers: nil, in: Self.vhost) }
            == TopologyError(code: 404, text: "NOT_FOUND - no exchange 'gone' in vhost '/'"))
        #expect(Self.error { _ = try t.route(exchange: ExchangeName("gone"), routingKey: "", headers: nil, in: VHost("v")) }?.code == 404)
        try t.declareExchange(Self.x("inner", .fanout, internal: true), passive: false, in: Self.vhost)
        t.addQueue(Self.q("q"))
        try t.bind(Self.b("inner", "q"), in: Self.vhost)
        #expect(Self.error { _ = try t.route(exchange: ExchangeName("inner"), routingKey: "", headers: nil, in: Self.vhost) }
            == TopologyError(code: 403, text: "ACCESS_REFUSED - cannot publish to internal exchange 'inner' in vhost '/'"))
    }

    @Test("each exchange type routes, deduplicated, in binding order")
    func routing() throws {
        var t = Topology()
        for (i, name) in ["a", "b", "c"].enumerated() { t.addQueue(Self.q(name, partition: i)) }
        try t.bind(Self.b("amq.direct", "b", "k"), in: Self.vhost)
        try t.bind(Self.b("amq.direct", "a", "k"), in: Self.vhost)
        try t.bind(Self.b("amq.direct", "c", "other"), in: Self.vhost)
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.direct"), routingKey: "k", headers: nil, in: Self.vhost)) == ["b", "a"])

        try t.bind(Self.b("amq.fanout", "c", "x"), in: Self.vhost)
        try t.bind(Self.b("amq.fanout", "a", "y"), in: Self.vhost)
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.fanout"), routingKey: "anything", headers: nil, in: Self.vhost)) == ["c", "a"])

        try t.bind(Self.b("amq.topic", "a", "stock.#"), in: Self.vhost)
        try t.bind(Self.b("amq.topic", "a", "*.nyse"), in: Self.vhost)
        try t.bind(Self.b("amq.topic", "b", "stock.*"), in: Self.vhost)
        #expect(Set(Self.names(try t.route(exchange: ExchangeName("amq.topic"), routingKey: "stock.nyse", headers: nil, in: Self.vhost))) == ["a", "b"])
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.topic"), routingKey: "stock", headers: nil, in: Self.vhost)) == ["a"])

        let str = { (s: String) in FieldValue.longString(Array(s.utf8)) }
        try t.bind(Self.b("amq.headers", "a", "", ["x-match": str("any"), "f": str("pdf"), "g": str("x")]), in: Self.vhost)
        try t.bind(Self.b("amq.headers", "b", "", ["f": str("pdf"), "g": str("x")]), in: Self.vhost)
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.headers"), routingKey: "", headers: ["f": str("pdf")], in: Self.vhost)) == ["a"])
        #expect(Self.names(try t.route(exchange: ExchangeName("amq.headers"), routingKey: "", headers: ["g": str("x"), "f": str("pdf")], in: Self.vhost)) == ["a", "b"])
        #expect(try t.route(exchange: ExchangeName("amq.headers"), routingKey: "", headers: nil, in: Self.vhost).isEmpty)
    }

    @Test("a wide fanout deduplicates past the linear-scan limit")
    func wideFanout() throws {
        var t = Topology()
        for i in 0..<40 {
            t.addQueue(Self.q("q\(i)"))
            try t.bind(Self.b("amq.topic", "q\(i)", "a.*"), in: Self.vhost)
            try t.bind(Self.b("amq.topic", "q\(i)", "#"), in: Self.vhost)
        }
        let routed = try t.route(exchange: ExchangeName("amq.topic"), routingKey: "a.b", headers: nil, in: Self.vhost)
        #expect(routed.count == 40)
        #expect(Set(Self.names(routed)).count == 40)
    }

    @Test("a snapshot is not changed by later mutations of a copy")
    func snapshotIsolation() throws {
        var t = Topology()
        t.addQueue(Self.q("q"))
        try t.bind(Self.b("amq.fanout", "q"), in: Self.vhost)
        let snapshot = t
        t.removeQueue(QueueID(vhost: Self.vhost, name: QueueName("q")))
        #expect(Self.names(try snapshot.route(exchange: ExchangeName("amq.fanout"), routingKey: "", headers: nil, in: Self.vhost)) == ["q"])
        #expect(try t.route(exchange: ExchangeName("amq.fanout"), routingKey: "", headers: nil, in: Self.vhost).isEmpty)
    }

    @Test("a worker's queue list forgets only queues recorded before it was asked")
    func reconcileKeepsQueuesDeclaredSince() {
        var t = Topology()
        t.addQueue(Self.q("gone"))
        t.addQueue(Self.q("kept"))
        let asked = t.queueIDs(of: PartitionID(0))
        t.addQueue(Self.q("declared-since"))  // through another router, after the list was asked for
        t.reconcileQueues(of: PartitionID(0), with: [Self.q("kept")], askedAfter: asked)
        #expect(t.queue(QueueID(vhost: Self.vhost, name: QueueName("gone"))) == nil)
        #expect(t.queue(QueueID(vhost: Self.vhost, name: QueueName("kept"))) != nil)
        #expect(t.queue(QueueID(vhost: Self.vhost, name: QueueName("declared-since"))) != nil)
        t.reconcileQueues(of: PartitionID(0), with: [Self.q("kept")])
        #expect(t.queue(QueueID(vhost: Self.vhost, name: QueueName("declared-since"))) == nil)
    }

    @Test("vhosts are separate")
    func vhosts() throws {
        var t = Topology()
        let v = VHost("v")
        #expect(t.addVHost(v) && !t.addVHost(v))
        try t.declareExchange(Self.x("e"), passive: false, in: v)
        #expect(t.exchange(ExchangeName("e"), in: .default) == nil)
        t.addQueue(Self.q("q", vhost: v))
        try t.bind(Self.b("e", "q", "k"), in: v)
        #expect(Self.error { try t.bind(Self.b("amq.direct", "q", "k"), in: .default) }?.code == 404)
        #expect(t.vhostNames == [.default, v])
        #expect(t.deleteVHost(v) == [QueueID(vhost: v, name: QueueName("q"))])
        #expect(t.exchange(ExchangeName("e"), in: v) == nil)
        #expect(!t.hasVHost(v) && t.vhostNames == [.default])
    }
}
