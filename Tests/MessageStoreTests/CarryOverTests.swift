// A handover's carry-over (PartitionEngine+CarryOver, Docs/scale-out.md): what lived in memory
// only is written to the store, and the next recovery (the new owner's) keeps it, once.
import BrokerModel
import Foundation
import LinkWire
import NIOCore
import Testing
@testable import MessageStore
import PartitionEngine

@Suite struct CarryOverTests {
    let paging = EnginePagingTests()

    /// An engine on the store of `directory`, with the queues the store recovered.
    func reopened(_ directory: String) throws -> (MessageStore, PartitionEngine, [RecoveredQueue]) {
        let (store, recovered) = try openStore(directory)
        var engine = paging.engine(store)
        for queue in recovered {
            let restored = engine.restoreQueue(queue.definition, ref: queue.ref, run: queue.run, nextSequence: queue.nextSequence, now: 0)
            #expect(restored)
        }
        return (store, engine, recovered)
    }

    func get(_ engine: inout PartitionEngine, _ name: String, from connection: ConnectionID = ConnectionID(1),
             noAck: Bool = true) -> (body: String, redelivered: Bool)? {
        var output = EngineOutput()
        engine.apply(.get(LinkRequestID(2), channel: ChannelNumber(1), queue: QueueID(vhost: .default, name: QueueName(name)),
                          noAck: noAck), from: connection, now: 0, into: &output)
        guard case .getOk(_, _, let redelivered, _, let message)? = output.events.first?.1 else { return nil }
        return (String(buffer: message.body), redelivered)
    }

    func drain(_ engine: inout PartitionEngine, _ name: String, from connection: ConnectionID = ConnectionID(1)) -> [String] {
        var bodies: [String] = []
        while let next = get(&engine, name, from: connection) { bodies.append(next.redelivered ? next.body + " (redelivered)" : next.body) }
        return bodies
    }

    func publish(_ engine: inout PartitionEngine, _ body: String, persistent: Bool, to name: String) {
        var output = EngineOutput()
        engine.apply(.publish(PublishRequest(channel: ChannelNumber(1), confirmSequence: 0, vhost: .default,
                                             queues: [QueueName(name)], message: stored(body, persistent: persistent))),
                     from: ConnectionID(1), now: 0, into: &output)
    }

    @Test func transientMessagesAndQueuesComeBackInPlaceOnceAfterACarryOver() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let (store, _) = try openStore(dir.path)
            var engine = paging.engine(store)
            paging.declare(&engine, "durable")
            paging.declare(&engine, "plain", durable: false)
            var output = EngineOutput()
            engine.apply(.declareQueue(LinkRequestID(1), QueueDeclareRequest(
                channel: ChannelNumber(1), queue: QueueID(vhost: .default, name: QueueName("mine")), exclusive: true)),
                         from: ConnectionID(7), now: 0, into: &output)
            for (i, persistent) in [true, false, true, false].enumerated() {
                publish(&engine, "d\(i)", persistent: persistent, to: "durable")
            }
            for i in 0..<3 { publish(&engine, "p\(i)", persistent: i == 1, to: "plain") }
            _ = get(&engine, "plain", noAck: false)  // p0 stays unacked
            var exclusive = EngineOutput()
            engine.apply(.publish(PublishRequest(channel: ChannelNumber(1), confirmSequence: 0, vhost: .default,
                                                 queues: [QueueName("mine")], message: stored("x0", persistent: false))),
                         from: ConnectionID(7), now: 0, into: &exclusive)
            try engine.carryOver()
            store.close()
        }
        #expect(FileManager.default.fileExists(atPath: dir.path + "/CARRIED"))
        do {
            let (store, restored, recovered) = try reopened(dir.path)
            defer { store.close() }
            var engine = restored
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/CARRIED"))
            let definitions = Dictionary(uniqueKeysWithValues: recovered.map { ($0.definition.id.name.name, $0.definition) })
            #expect(definitions["plain"]?.durable == false && definitions["plain"]?.exclusiveOwner == nil)
            #expect(definitions["mine"]?.exclusiveOwner == ConnectionID(7))
            #expect(drain(&engine, "durable") == ["d0", "d1", "d2", "d3"])
            #expect(drain(&engine, "plain") == ["p0 (redelivered)", "p1", "p2"])
            #expect(get(&engine, "mine") == nil, "another connection's exclusive queue")
            #expect(drain(&engine, "mine", from: ConnectionID(7)) == ["x0"])
            // Left for the next restart: transient ones in a durable queue, and the plain queue.
            publish(&engine, "d4", persistent: false, to: "durable")
            publish(&engine, "d5", persistent: true, to: "durable")
            publish(&engine, "p3", persistent: true, to: "plain")
            try store.syncAll()
        }
        // Carried once: a restart after it keeps only the durable queue's persistent messages.
        let (store, restored, recovered) = try reopened(dir.path)
        defer { store.close() }
        var engine = restored
        #expect(recovered.map(\.definition.id.name.name) == ["durable"])
        #expect(drain(&engine, "durable") == ["d5"])
    }

    @Test func withoutACarryOverTransientMessagesAndCarriedQueuesAreGoneAndTheirReferencesNotReused() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let carried = JournalQueue(id: QueueID(vhost: .default, name: QueueName("plain")), autoDelete: false,
                                   arguments: ByteBuffer(), durable: false)
        var carriedRef: UInt32 = 0
        do {
            let (store, _) = try openStore(dir.path)
            carriedRef = store.queueDeclared(carried)
            let durableRef = store.queueDeclared(queueA)
            _ = store.append(stored("t", persistent: false), queue: durableRef, sequence: 0, expiresAt: .max,
                             redelivered: false, persistent: false)
            _ = store.append(stored("m"), queue: durableRef, sequence: 1, expiresAt: .max, redelivered: false, persistent: true)
            try store.syncAll()
            store.close()
        }
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        #expect(recovered.map(\.definition) == [queueA])
        #expect(readAll(store, recovered[0]).map { String(buffer: $0.message.body) } == ["m"])
        #expect(store.queueDeclared(carried) > carriedRef + 1)
    }
}
