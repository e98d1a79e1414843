// The router's topology, shared by every event loop as an immutable snapshot. The publish
// path only loads the current snapshot (one atomic load, no lock); the rare writers
// (declare, bind, delete) serialise on a lock, build a new value and swap it in; the durable
// part is saved by `TopologyWriter` off the event loops. With routers on several hosts the
// shared part is also agreed through `SharedTopology` (TopologyStore+Shared.swift).
import Atomics
import BrokerModel
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RouterCore

final class TopologySnapshot: AtomicReference, Sendable {
    let topology: Topology
    init(_ topology: Topology) { self.topology = topology }
}

final class TopologyStore: Sendable {
    /// A change as it is kept until the routers agreed on it: applied again if another
    /// router's change came first.
    typealias Change = @Sendable (inout Topology) throws(TopologyError) -> Void

    let current: ManagedAtomic<TopologySnapshot>
    /// Serialises writers; holds the agreement with other routers once there is one.
    let writers = NIOLockedValueBox<Agreement?>(nil)
    /// Saves the durable part after changes, off the event loops.
    let writer: TopologyWriter?
    /// Told of vhosts another router deleted, so that this router closes their connections.
    let vhostsGone = NIOLockedValueBox<(@Sendable ([VHost]) -> Void)?>(nil)

    /// `saved` is what `file` holds; the topology is saved at once if it differs (users
    /// made from the configuration on a first start).
    init(_ topology: Topology = Topology(), file: TopologyFile? = nil, saved: DurableTopology? = nil) {
        current = ManagedAtomic(TopologySnapshot(topology))
        self.writer = file.map { TopologyWriter(file: $0, loaded: saved ?? DurableTopology()) }
        writer?.changed(topology)
    }

    /// The topology as of now; never blocks.
    var snapshot: Topology { current.load(ordering: .acquiring).topology }
    /// The snapshot object itself: a new one after every change, so its identity says
    /// whether anything computed from an earlier one still holds.
    var currentSnapshot: TopologySnapshot { current.load(ordering: .acquiring) }

    /// Applies one change atomically with respect to other writers.
    @discardableResult
    func update<T>(_ change: @escaping @Sendable (inout Topology) throws(TopologyError) -> T) throws(TopologyError) -> T {
        try apply(change, awaitedOn: nil).get().result
    }

    /// Applies one change whose answer waits for it: the future completes on `loop` once the
    /// change is on disk and, with routers on several hosts, agreed; it fails with the
    /// error the change met if another router's change came first (a declare of the same
    /// exchange with another type, say). Nil when nothing is left to wait for.
    func updateAwaited(on loop: EventLoop, _ change: @escaping Change) throws(TopologyError) -> EventLoopFuture<Void>? {
        try apply(change, awaitedOn: loop).get().done
    }

    private func apply<T>(_ change: @escaping @Sendable (inout Topology) throws(TopologyError) -> T,
                          awaitedOn loop: EventLoop?) -> Result<(result: T, done: EventLoopFuture<Void>?), TopologyError> {
        var startCommit = false
        let outcome = writers.withLockedValue { agreement -> Result<(result: T, done: EventLoopFuture<Void>?), TopologyError> in
            var topology = current.load(ordering: .acquiring).topology
            let result = Result<T, TopologyError> { () throws(TopologyError) -> T in try change(&topology) }
            guard case .success(let value) = result else { return result.map { ($0, nil) } }
            current.store(TopologySnapshot(topology), ordering: .releasing)
            writer?.changed(topology)
            let saved = loop.flatMap { writer?.whenSaved(on: $0) }
            guard agreement != nil else { return .success((value, saved)) }
            let agreed = loop?.makePromise(of: Void.self)
            agreement!.pending.append(.init(change: { (t: inout Topology) throws(TopologyError) in _ = try change(&t) }, agreed: agreed))
            startCommit = !agreement!.committing
            agreement!.committing = true
            guard let agreed else { return .success((value, nil)) }
            return .success((value, saved.map { saved in agreed.futureResult.and(saved).map { _ in } } ?? agreed.futureResult))
        }
        if startCommit { Task { await self.commitPending() } }
        return outcome
    }
}
