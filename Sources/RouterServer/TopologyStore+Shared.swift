// Routers of several hosts share one topology (Docs/scale-out.md): its shared part (every
// exchange, queue that is not exclusive, binding, user, vhost and permission) is one value
// in etcd, replaced by compare-and-swap. A router applies a change to its own snapshot at
// once, keeps it pending, and commits its pending changes on top of the last agreed part.
// If another router's change came first, it adopts that one and applies its pending changes
// again: a change that no longer holds (an exchange declared meanwhile with another type) is
// refused with the error it now meets, which is what the declaring channel gets, as it would
// from RabbitMQ. Answers wait for the agreement. A watch brings other routers' changes.
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RouterCore

/// Where the routers' shared topology is kept (etcd, given by the broker command).
public protocol SharedTopology: Sendable {
    /// The shared part and its revision; nil when no router has written one yet.
    func read() async throws -> (part: DurableTopology?, revision: Int64)
    /// Writes `part` if the shared part is still at `revision` (0: none yet); the new
    /// revision, or nil when another router changed it first.
    func write(_ part: DurableTopology, ifAt revision: Int64) async throws -> Int64?
    /// Each shared part written after `revision`, until the stream fails or ends.
    func changes(after revision: Int64) -> AsyncThrowingStream<(part: DurableTopology, revision: Int64), Error>
}

extension TopologyStore {
    struct PendingChange {
        var change: Change
        /// Completed once the change is agreed (or refused); nil when nobody waits for it.
        var agreed: EventLoopPromise<Void>?
    }

    struct Agreement {
        let shared: any SharedTopology
        let logger: Logger
        /// The shared part as the routers last agreed on it, and its revision.
        var part: DurableTopology
        var revision: Int64
        /// Applied to this router's snapshot, not yet agreed, in the order they were made.
        var pending: [PendingChange] = []
        var committing = false
        /// A newer part the watch reported while a commit was under way: adopted after it.
        var seen: (part: DurableTopology, revision: Int64)?
    }

    /// Joins the routers that share `shared`: adopts their part, or writes this router's if
    /// there is none yet, then follows their changes. Before any client is served.
    func share(through shared: any SharedTopology, logger: Logger) async throws -> Task<Void, Never> {
        var (found, revision) = try await shared.read()
        while found == nil {
            let mine = snapshot.sharedPart
            if let written = try await shared.write(mine, ifAt: 0) {
                (found, revision) = (mine, written)
                logger.info("shared topology: this router's written first", metadata: ["revision": "\(revision)"])
            } else {
                (found, revision) = try await shared.read()
            }
        }
        writers.withLockedValue { agreement in
            agreement = Agreement(shared: shared, logger: logger, part: found!, revision: revision)
            rebuild(&agreement!)
        }
        logger.info("shared topology adopted", metadata: ["revision": "\(revision)", "exchanges": "\(found!.exchanges.count)",
                                                         "queues": "\(found!.queues.count)", "bindings": "\(found!.bindings.count)"])
        return Task { await self.follow(shared, from: revision, logger: logger) }
    }

    /// Brings other routers' changes in; after a failed watch, reads the part again. It is
    /// also read every 30 s, so that a watch stalled on a silent connection costs no more.
    private func follow(_ shared: any SharedTopology, from revision: Int64, logger: Logger) async {
        let check = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                if !Task.isCancelled, let (part, now) = try? await shared.read(), let part { received(part, revision: now) }
            }
        }
        defer { check.cancel() }
        var revision = revision
        while !Task.isCancelled {
            do {
                for try await (part, changed) in shared.changes(after: revision) {
                    revision = max(revision, changed)
                    received(part, revision: changed)
                }
            } catch {
                logger.warning("shared topology: the watch failed; reading it again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(500))
            if Task.isCancelled { return }
            if let (part, now) = try? await shared.read(), let part {
                revision = now
                received(part, revision: now)
            }
        }
    }

    private func received(_ part: DurableTopology, revision: Int64) {
        writers.withLockedValue { agreement in
            guard agreement != nil, revision > agreement!.revision else { return }
            if agreement!.committing {
                if revision > agreement!.seen?.revision ?? 0 { agreement!.seen = (part, revision) }
                return
            }
            adopt(part, revision: revision, into: &agreement!)
        }
    }

    /// Under the writers' lock: a newer agreed part replaces the last one, and the snapshot is
    /// rebuilt on it.
    private func adopt(_ part: DurableTopology, revision: Int64, into agreement: inout Agreement) {
        guard revision > agreement.revision else { return }
        (agreement.part, agreement.revision) = (part, revision)
        rebuild(&agreement)
    }

    /// Commits the pending changes, a batch at a time, until none is left.
    func commitPending() async {
        while true {
            let batch = writers.withLockedValue { agreement -> (changes: [PendingChange], base: Agreement)? in
                guard agreement != nil else { return nil }
                if let seen = agreement!.seen {
                    agreement!.seen = nil
                    adopt(seen.part, revision: seen.revision, into: &agreement!)
                }
                if agreement!.pending.isEmpty {
                    agreement!.committing = false
                    return nil
                }
                return (agreement!.pending, agreement!)
            }
            guard let (changes, base) = batch else { return }
            // The batch on top of the agreed part, never on this router's own snapshot (it may
            // lack another router's changes, which the write would then erase).
            var candidate: Topology
            do {
                candidate = try snapshot.adopting(shared: base.part)
            } catch {
                base.logger.error("shared topology: cannot read the agreed part; trying again", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            var refusals: [Int: TopologyError] = [:]
            for (index, pending) in changes.enumerated() {
                var next = candidate
                do {
                    try pending.change(&next)
                    candidate = next
                } catch {
                    refusals[index] = error
                }
            }
            let part = candidate.sharedPart
            do {
                let written = part == base.part ? base.revision : try await base.shared.write(part, ifAt: base.revision)
                if let written {
                    settle(changes.count, part: part, revision: written, refusals: refusals)
                } else {
                    // Another router's change came first: adopt it, then try again.
                    let (latest, revision) = try await base.shared.read()
                    writers.withLockedValue { agreement in
                        guard agreement != nil else { return }
                        guard let latest else {
                            // The key was deleted (etcd wiped?): written anew from the last agreed part.
                            agreement!.revision = 0
                            return
                        }
                        adopt(latest, revision: revision, into: &agreement!)
                    }
                }
            } catch {
                base.logger.warning("shared topology: cannot commit a change; trying again", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The first `count` pending changes are agreed as `part`, but for those refused.
    private func settle(_ count: Int, part: DurableTopology, revision: Int64, refusals: [Int: TopologyError]) {
        writers.withLockedValue { agreement in
            guard agreement != nil else { return }
            let done = agreement!.pending.prefix(count)
            agreement!.pending.removeFirst(count)
            (agreement!.part, agreement!.revision) = (part, revision)
            for (index, pending) in done.enumerated() {
                if let refusal = refusals[index] {
                    agreement!.logger.info("shared topology: a change was refused after another router's", metadata: ["error": "\(refusal.text)"])
                    pending.agreed?.fail(refusal)
                } else {
                    pending.agreed?.succeed()
                }
            }
            if !refusals.isEmpty { rebuild(&agreement!) }
        }
    }

    /// Under the writers' lock: the snapshot becomes the agreed part with the pending changes
    /// applied again; those that no longer hold are refused.
    private func rebuild(_ agreement: inout Agreement) {
        let local = snapshot
        var topology: Topology
        do {
            topology = try local.adopting(shared: agreement.part)
        } catch {
            agreement.logger.error("shared topology: cannot read the agreed part; keeping this router's", metadata: ["error": "\(error)"])
            return
        }
        var kept: [PendingChange] = []
        for pending in agreement.pending {
            var next = topology
            do {
                try pending.change(&next)
                topology = next
                kept.append(pending)
            } catch {
                agreement.logger.info("shared topology: a change was refused after another router's", metadata: ["error": "\(error.text)"])
                pending.agreed?.fail(error)
            }
        }
        agreement.pending = kept
        let gone = local.access.vhosts.subtracting(topology.access.vhosts)
        current.store(TopologySnapshot(topology), ordering: .releasing)
        writer?.changed(topology)
        if !gone.isEmpty, let handler = vhostsGone.withLockedValue({ $0 }) { handler(Array(gone)) }
    }
}
