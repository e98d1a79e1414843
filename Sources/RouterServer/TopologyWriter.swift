// Saves the durable part of the topology on a thread of its own, so that no event loop ever
// waits on an fsync: each change that touched the durable part gets a version, the writer
// saves the newest part it has (changes made meanwhile are saved together), and a channel
// that declared something durable waits for `whenSaved` before its declare-ok (as before,
// the client learns of the change once it is on disk; the loop serves others meanwhile).
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RouterCore

final class TopologyWriter: Sendable {
    private struct State {
        var queued: (version: UInt64, part: DurableTopology)?
        var lastQueued: DurableTopology
        var version: UInt64 = 0
        var saved: UInt64 = 0
        var waiters: [(version: UInt64, promise: EventLoopPromise<Void>)] = []
    }

    private let file: TopologyFile
    private let thread: NIOThreadPool
    private let state: NIOLockedValueBox<State>

    init(file: TopologyFile, loaded: DurableTopology) {
        self.file = file
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.thread.start()
        self.state = NIOLockedValueBox(State(lastQueued: loaded))
    }

    /// Called with each new topology (under the store's writer lock, so versions follow the
    /// order of changes): queues its durable part when that changed.
    func changed(_ topology: Topology) {
        let part = topology.durablePart
        let submit = state.withLockedValue { state -> Bool in
            guard part != state.lastQueued else { return false }
            state.version += 1
            state.lastQueued = part
            let idle = state.queued == nil
            state.queued = (state.version, part)
            return idle
        }
        if submit { thread.submit { _ in self.saveQueued() } }
    }

    /// Completes on `loop` once every change made so far is on disk; nil when it already is.
    func whenSaved(on loop: EventLoop) -> EventLoopFuture<Void>? {
        state.withLockedValue { state in
            guard state.saved < state.version else { return nil }
            let promise = loop.makePromise(of: Void.self)
            state.waiters.append((state.version, promise))
            return promise.futureResult
        }
    }

    /// On the writer thread: saves the newest queued part, then wakes who waited for it.
    private func saveQueued() {
        guard let (version, part) = state.withLockedValue({ state in
            defer { state.queued = nil }
            return state.queued
        }) else { return }
        file.save(part)
        let done = state.withLockedValue { state -> [EventLoopPromise<Void>] in
            state.saved = version
            let done = state.waiters.filter { $0.version <= version }.map(\.promise)
            state.waiters.removeAll { $0.version <= version }
            return done
        }
        for promise in done { promise.succeed() }
    }
}
