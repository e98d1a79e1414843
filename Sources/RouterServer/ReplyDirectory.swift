// The direct reply-to names that have a live consumer, shared by every event loop: a
// reply's publisher checks its name here (one atomic load, no lock) to tell a routable reply
// from an unroutable one; consumers registering and leaving (rare) serialise on a lock.
import Atomics
import NIOConcurrencyHelpers

final class ReplyDirectory: Sendable {
    private final class Names: AtomicReference, Sendable {
        let set: Set<String>
        init(_ set: Set<String>) { self.set = set }
    }

    private let current = ManagedAtomic(Names([]))
    private let writers = NIOLock()

    func contains(_ name: String) -> Bool {
        current.load(ordering: .acquiring).set.contains(name)
    }

    func insert(_ name: String) { change { $0.insert(name) } }

    func remove(_ name: String) { change { $0.remove(name) } }

    private func change(_ body: (inout Set<String>) -> Void) {
        writers.withLock {
            var set = current.load(ordering: .acquiring).set
            body(&set)
            current.store(Names(set), ordering: .releasing)
        }
    }
}
