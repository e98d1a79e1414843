// Two routers' topology stores sharing one topology through an in-memory stand-in for etcd:
// concurrent changes are agreed in one order, one that no longer holds is refused with its
// error, and each router sees the other's changes. (test_hosts_etcd.py does it with etcd.)
import BrokerModel
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RouterCore
import Testing
@testable import RouterServer

/// One value with a revision, compare-and-swap, and a watch: what the store needs of etcd.
final class MemorySharedTopology: SharedTopology {
    private struct State {
        var part: DurableTopology?
        var revision: Int64 = 0
        var watchers: [AsyncThrowingStream<(part: DurableTopology, revision: Int64), Error>.Continuation] = []
    }
    private let state = NIOLockedValueBox(State())

    func read() async throws -> (part: DurableTopology?, revision: Int64) {
        state.withLockedValue { ($0.part, $0.revision) }
    }

    func write(_ part: DurableTopology, ifAt revision: Int64) async throws -> Int64? {
        state.withLockedValue { state in
            guard state.revision == revision else { return nil }
            state.part = part
            state.revision += 1
            for watcher in state.watchers { watcher.yield((part, state.revision)) }
            return state.revision
        }
    }

    func changes(after revision: Int64) -> AsyncThrowingStream<(part: DurableTopology, revision: Int64), Error> {
        let (stream, continuation) = AsyncThrowingStream<(part: DurableTopology, revision: Int64), Error>.makeStream()
        state.withLockedValue { state in
            if state.revision > revision, let part = state.part { continuation.yield((part, state.revision)) }
            state.watchers.append(continuation)
        }
        return stream
    }
}

@Suite("Shared topology")
struct SharedTopologyTests {
    let logger = Logger(label: "test")
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    func exchange(_ name: String, _ type: ExchangeType) -> TopologyStore.Change {
        { (t: inout Topology) throws(TopologyError) in
            try t.declareExchange(ExchangeDefinition(name: ExchangeName(name), type: type), passive: false, in: .default)
        }
    }

    func outcome(_ future: EventLoopFuture<Void>) async -> Result<Void, Error> {
        do {
            try await future.get()
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Waits (up to 5 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }

    @Test func theFirstRouterWritesItsPartAndTheSecondAdoptsIt() async throws {
        let shared = MemorySharedTopology()
        let a = TopologyStore(), b = TopologyStore()
        try a.update(exchange("early", .topic))
        let watches = [try await a.share(through: shared, logger: logger), try await b.share(through: shared, logger: logger)]
        defer { watches.forEach { $0.cancel() } }
        #expect(b.snapshot.exchange(ExchangeName("early"), in: .default)?.type == .topic)
    }

    @Test func aChangeOnOneRouterReachesTheOther() async throws {
        let shared = MemorySharedTopology()
        let a = TopologyStore(), b = TopologyStore()
        let watches = [try await a.share(through: shared, logger: logger), try await b.share(through: shared, logger: logger)]
        defer { watches.forEach { $0.cancel() } }
        try await a.updateAwaited(on: loop, exchange("orders", .fanout))?.get()
        try await eventually { b.snapshot.exchange(ExchangeName("orders"), in: .default) != nil }
        try await b.updateAwaited(on: loop) { (t: inout Topology) throws(TopologyError) in
            t.addQueue(QueueRecord(id: QueueID(vhost: .default, name: QueueName("q")), partition: PartitionID(0)))
            try t.bind(Binding(source: ExchangeName("orders"), queue: QueueName("q"), routingKey: ""), in: .default)
        }?.get()
        try await eventually { a.snapshot.bindings(in: .default).count == 1 }
    }

    @Test func ofTwoConflictingDeclaresOneIsRefusedWithRabbitMQsError() async throws {
        let shared = MemorySharedTopology()
        let a = TopologyStore(), b = TopologyStore()
        let watches = [try await a.share(through: shared, logger: logger), try await b.share(through: shared, logger: logger)]
        defer { watches.forEach { $0.cancel() } }
        // Both are applied locally before either is agreed.
        let first = try a.updateAwaited(on: loop, exchange("x", .direct))!
        let second = try b.updateAwaited(on: loop, exchange("x", .fanout))!
        let outcomes = [await outcome(first), await outcome(second)]
        let refused = outcomes.compactMap { result -> TopologyError? in
            if case .failure(let error as TopologyError) = result { return error }
            return nil
        }
        #expect(refused.count == 1)
        #expect(refused.first?.code == .preconditionFailed)
        #expect(refused.first?.text.contains("inequivalent arg 'type'") == true)
        try await eventually { a.snapshot.exchange(ExchangeName("x"), in: .default)?.type == b.snapshot.exchange(ExchangeName("x"), in: .default)?.type }
    }

    @Test func twoRoutersDeclaringTheSameAgreeWithoutError() async throws {
        let shared = MemorySharedTopology()
        let a = TopologyStore(), b = TopologyStore()
        let watches = [try await a.share(through: shared, logger: logger), try await b.share(through: shared, logger: logger)]
        defer { watches.forEach { $0.cancel() } }
        let first = try a.updateAwaited(on: loop, exchange("same", .topic))!
        let second = try b.updateAwaited(on: loop, exchange("same", .topic))!
        try await first.get()
        try await second.get()
        #expect(try await shared.read().part?.exchanges.map(\.definition.name.name) == ["same"])
    }
}
