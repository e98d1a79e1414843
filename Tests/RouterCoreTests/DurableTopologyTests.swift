// What of the topology survives a restart, and its file format.
import AMQPWire
import BrokerModel
import Testing
@testable import RouterCore

@Suite struct DurableTopologyTests {
    func sample() throws -> Topology {
        var topology = Topology()
        let vhost = VHost.default
        try topology.declareExchange(ExchangeDefinition(name: ExchangeName("orders"), type: .topic, durable: true,
                                                        arguments: ["alternate-exchange": .longString(Array("ae".utf8))]),
                                     passive: false, in: vhost)
        try topology.declareExchange(ExchangeDefinition(name: ExchangeName("later"), type: .direct, durable: true,
                                                        delayed: true), passive: false, in: vhost)
        try topology.declareExchange(ExchangeDefinition(name: ExchangeName("scratch"), type: .fanout), passive: false, in: vhost)
        topology.addQueue(QueueRecord(id: QueueID(vhost: vhost, name: QueueName("kept")), partition: PartitionID(1), durable: true))
        topology.addQueue(QueueRecord(id: QueueID(vhost: vhost, name: QueueName("lost")), partition: PartitionID(0)))
        topology.addQueue(QueueRecord(id: QueueID(vhost: vhost, name: QueueName("mine")), partition: PartitionID(0),
                                      durable: true, exclusiveOwner: ConnectionID(7)))
        try topology.bind(Binding(source: ExchangeName("orders"), queue: QueueName("kept"), routingKey: "eu.#",
                                  arguments: ["x-match": .longString(Array("all".utf8))]), in: vhost)
        try topology.bind(Binding(source: ExchangeName("orders"), queue: QueueName("lost"), routingKey: "#"), in: vhost)
        try topology.bind(Binding(source: ExchangeName("scratch"), queue: QueueName("kept"), routingKey: ""), in: vhost)
        try topology.bind(Binding(source: ExchangeName("orders"), destination: .exchange(ExchangeName("later")),
                                  routingKey: "x"), in: vhost)
        return topology
    }

    @Test func onlyDurableObjectsAndBindingsBetweenDurableEndsAreKept() throws {
        let part = try sample().durablePart
        #expect(part.exchanges.map(\.definition.name.name) == ["later", "orders"])
        #expect(part.queues.map(\.id.name.name) == ["kept"])
        #expect(part.bindings.count == 2)
        #expect(Set(part.bindings.map(\.binding.destination)) == [.queue(QueueName("kept")), .exchange(ExchangeName("later"))])
        #expect(part.bindings.allSatisfy { $0.binding.source.name == "orders" })
    }

    @Test func theSharedPartHasTransientAndExclusiveQueues() throws {
        let part = try sample().sharedPart
        #expect(part.exchanges.map(\.definition.name.name) == ["later", "orders", "scratch"])
        #expect(part.queues.map(\.id.name.name).sorted() == ["kept", "lost", "mine"])
        #expect(part.bindings.count == 4)
        let decoded = try DurableTopology(decoding: part.encoded())
        #expect(decoded == part)
        #expect(decoded.queues.first { $0.id.name.name == "lost" }?.durable == false)
        #expect(decoded.queues.first { $0.id.name.name == "mine" }?.exclusiveOwner == ConnectionID(7))
    }

    @Test func adoptingAnotherRoutersPartReplacesAllButTheLoopbackUsers() throws {
        var mine = try sample()
        mine.access.loopbackUsers = ["guest", "local"]
        var theirs = Topology()
        try theirs.declareExchange(ExchangeDefinition(name: ExchangeName("orders"), type: .topic, durable: true), passive: false, in: .default)
        theirs.addQueue(QueueRecord(id: QueueID(vhost: .default, name: QueueName("other")), partition: PartitionID(1)))
        let adopted = try mine.adopting(shared: theirs.sharedPart)
        #expect(adopted.exchange(ExchangeName("scratch"), in: .default) == nil)
        #expect(adopted.queue(QueueID(vhost: .default, name: QueueName("other"))) != nil)
        #expect(adopted.queue(QueueID(vhost: .default, name: QueueName("mine"))) == nil)
        #expect(adopted.bindings(in: .default).isEmpty)
        #expect(adopted.access.loopbackUsers == ["guest", "local"])
    }

    @Test func theFileFormatRoundTripsAndRestoresRouting() throws {
        let part = try sample().durablePart
        let decoded = try DurableTopology(decoding: part.encoded())
        #expect(decoded == part)
        var restored = Topology()
        try restored.restore(decoded)
        #expect(restored.durablePart == part)
        #expect(restored.exchange(ExchangeName("later"), in: .default)?.delayed == true)
        #expect(restored.queue(QueueID(vhost: .default, name: QueueName("kept")))?.partition == PartitionID(1))
    }

    @Test func aForeignFileIsRefused() {
        #expect(throws: DurableTopology.Malformed.self) {
            _ = try DurableTopology(decoding: .init(string: "not a topology"))
        }
    }
}
