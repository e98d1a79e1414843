// The router's topology, shared by every event loop as an immutable snapshot. The publish
// path only loads the current snapshot (one atomic load, no lock); the rare writers
// (declare, bind, delete) serialise on a lock, build a new value and swap it in; the durable
// part is saved by `TopologyWriter` off the event loops.
import Atomics
import BrokerModel
import NIOConcurrencyHelpers
import NIOCore
import RouterCore

final class TopologySnapshot: AtomicReference, Sendable {
    let topology: Topology
    init(_ topology: Topology) { self.topology = topology }
}

final class TopologyStore: Sendable {
    private let current: ManagedAtomic<TopologySnapshot>
    private let writers = NIOLock()
    /// Saves the durable part after changes, off the event loops.
    private let writer: TopologyWriter?

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
    func update<T>(_ change: (inout Topology) throws(TopologyError) -> T) throws(TopologyError) -> T {
        writers.lock()
        defer { writers.unlock() }
        var topology = current.load(ordering: .acquiring).topology
        let result = try change(&topology)
        current.store(TopologySnapshot(topology), ordering: .releasing)
        writer?.changed(topology)
        return result
    }

    /// Completes on `loop` once every change made so far is on disk; nil when it already is
    /// (or nothing is saved).
    func whenSaved(on loop: EventLoop) -> EventLoopFuture<Void>? {
        writer?.whenSaved(on: loop)
    }
}
