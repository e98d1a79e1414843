// The partition engine with a real store: long durable queues page out and read back in
// order, and confirms of persistent messages wait for a sync.
import BrokerModel
import BrokerTelemetry
import LinkWire
import NIOCore
import Testing
@testable import MessageStore
import PartitionEngine

@Suite struct EnginePagingTests {
    static let small = PagingLimits(pageAboveCount: 10, pageAboveBytes: 1 << 20, refillBelow: 3, refillBatch: 5)

    func engine(_ store: MessageStore) -> PartitionEngine {
        var engine = PartitionEngine(partition: PartitionID(0))
        engine.journal = store
        engine.paging = Self.small
        return engine
    }

    func declare(_ engine: inout PartitionEngine, _ name: String, durable: Bool = true) {
        var output = EngineOutput()
        engine.apply(.declareQueue(LinkRequestID(1), QueueDeclareRequest(
            channel: ChannelNumber(1), queue: QueueID(vhost: .default, name: QueueName(name)), durable: durable)),
                     from: ConnectionID(1), now: 0, into: &output)
    }

    func publish(_ engine: inout PartitionEngine, _ body: String, to name: String, sequence: UInt64) -> [(EngineRecipient, WorkerEvent)] {
        var output = EngineOutput()
        engine.apply(.publish(PublishRequest(channel: ChannelNumber(1), confirmSequence: sequence, vhost: .default,
                                             queues: [QueueName(name)], message: stored(body))),
                     from: ConnectionID(1), now: 0, into: &output)
        return output.events
    }

    func getAll(_ engine: inout PartitionEngine, _ name: String) -> [String] {
        var bodies: [String] = []
        while true {
            var output = EngineOutput()
            engine.apply(.get(LinkRequestID(2), channel: ChannelNumber(1), queue: QueueID(vhost: .default, name: QueueName(name)),
                              noAck: true), from: ConnectionID(1), now: 0, into: &output)
            guard case .getOk(_, _, _, _, let message)? = output.events.first?.1 else { return bodies }
            bodies.append(String(buffer: message.body))
        }
    }

    /// An engine on a store in a fresh directory, removed afterwards.
    func withFreshEngine(_ body: (inout PartitionEngine) throws -> Void) throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir.path)
        defer { store.close() }
        var engine = engine(store)
        try body(&engine)
    }

    @Test func aLongDurableQueueIsReadBackInPublishOrder() throws {
        try withFreshEngine { engine in
            declare(&engine, "long")
            for i in 0..<100 { _ = publish(&engine, "m\(i)", to: "long", sequence: 0) }
            #expect(engine.queueSummaries().first?.ready == 100)
            #expect(getAll(&engine, "long") == (0..<100).map { "m\($0)" })
        }
    }

    @Test("reading back is a step the host asks for once memory runs low; gets never see a false empty")
    func pagingInIsExplicit() throws {
        try withFreshEngine { engine in
            declare(&engine, "long")
            for i in 0..<30 { _ = publish(&engine, "m\(i)", to: "long", sequence: 0) }
            #expect(!engine.wantsPageIn)
            var bodies: [String] = []
            for _ in 0..<8 { bodies += getOne(&engine, "long") }  // 10 in memory → 2, below refillBelow (3)
            #expect(engine.wantsPageIn)
            var output = EngineOutput()
            engine.pageIn(now: 0, into: &output)
            #expect(!engine.wantsPageIn)
            bodies += getAll(&engine, "long")
            #expect(bodies == (0..<30).map { "m\($0)" })
        }
    }

    func getOne(_ engine: inout PartitionEngine, _ name: String) -> [String] {
        var output = EngineOutput()
        engine.apply(.get(LinkRequestID(2), channel: ChannelNumber(1), queue: QueueID(vhost: .default, name: QueueName(name)),
                          noAck: true), from: ConnectionID(1), now: 0, into: &output)
        guard case .getOk(_, _, _, _, let message)? = output.events.first?.1 else { return [] }
        return [String(buffer: message.body)]
    }

    @Test func confirmsOfPersistentMessagesWaitForTheSyncButTransientOnesDoNot() throws {
        try withFreshEngine { engine in
            declare(&engine, "durable")
            declare(&engine, "transient", durable: false)
            let durable = publish(&engine, "p", to: "durable", sequence: 1)
            let transient = publish(&engine, "t", to: "transient", sequence: 2)
            #expect(durable.contains { if case .connectionAfterSync = $0.0 { true } else { false } })
            #expect(transient.contains { if case .connection = $0.0, case .accepted = $0.1 { true } else { false } })
        }
    }

    @Test func pagedMessagesSurviveARestart() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let (store, _) = try openStore(dir.path)
            var engine = engine(store)
            declare(&engine, "long")
            for i in 0..<50 { _ = publish(&engine, "m\(i)", to: "long", sequence: 0) }
            #expect(getAll(&engine, "long").count == 50)  // consumed with no-ack: gone for good
            for i in 50..<80 { _ = publish(&engine, "m\(i)", to: "long", sequence: 0) }
            try store.writeBuffered()
            store.close()
        }
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        var engine = engine(store)
        for queue in recovered {
            let restored = engine.restoreQueue(queue.definition, ref: queue.ref, run: queue.run, nextSequence: queue.nextSequence, now: 0)
            #expect(restored)
        }
        #expect(getAll(&engine, "long") == (50..<80).map { "m\($0)" })
    }

    @Test func persistentDelayedMessagesComeBackAndFallDue() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let due: UInt64
        do {
            let (store, _) = try openStore(dir.path)
            var engine = engine(store)
            let now = MessageStore.engineMilliseconds()
            due = now + 50
            var output = EngineOutput()
            for (body, persistent) in [("kept", true), ("transient", false)] {
                engine.apply(.delay(DelayRequest(channel: ChannelNumber(1), confirmSequence: 1, vhost: .default, delay: 50,
                                                 message: stored(body, persistent: persistent))),
                             from: ConnectionID(1), now: now, into: &output)
            }
            // The persistent one's confirm waits for the sync; the transient one's does not.
            #expect(output.events.map { if case .connectionAfterSync = $0.0 { "sync" } else { "now" } } == ["sync", "now"])
            try store.writeBuffered()
            store.close()
        }
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        var engine = engine(store)
        for queue in recovered {
            #expect(queue.definition.kind == .delayedExchange)
            engine.restoreDelayed(queue.definition, ref: queue.ref, run: queue.run, nextSequence: queue.nextSequence)
        }
        #expect(engine.delayedCount == 1)
        var output = EngineOutput()
        // Wall-clock and engine clocks are re-related at start-up: allow some drift.
        engine.tick(now: due - 30, into: &output)
        #expect(output.events.isEmpty)
        engine.tick(now: due + 30, into: &output)
        guard case .delayedDue(_, let message)? = output.events.first?.1 else {
            Issue.record("nothing fell due: \(output.events)")
            return
        }
        #expect(String(buffer: message.body) == "kept")
    }
}
