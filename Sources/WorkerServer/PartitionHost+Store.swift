// The worker's side of the message store: open and recover it at start-up, write what each
// tick recorded with one pwrite, and group commit: confirms of persistent messages wait
// until one fdatasync on the sync thread covers every write before them. A connection's
// later confirms wait behind its held ones, so its confirms keep their order.
import BrokerModel
import BrokerTelemetry
import DequeModule
import LinkWire
import MessageStore
import NIOCore
import NIOPosix
import PartitionEngine
import SystemFiles

/// Confirms waiting for the store's sync, oldest first.
struct HeldConfirms {
    struct Entry {
        var epoch: UInt64
        var connection: ConnectionID
        var stream: PartitionHost.StreamRef
        var event: WorkerEvent
    }

    var entries: Deque<Entry> = []
    private var perConnection: [ConnectionID: Int] = [:]

    var isEmpty: Bool { entries.isEmpty }

    func isHolding(_ connection: ConnectionID) -> Bool {
        !perConnection.isEmpty && perConnection[connection] != nil
    }

    mutating func append(_ entry: Entry) {
        entries.append(entry)
        perConnection[entry.connection, default: 0] += 1
    }

    /// Removes the entries a sync up to `epoch` covers (all of them with nil).
    mutating func release(upTo epoch: UInt64?) -> [Entry] {
        var released: [Entry] = []
        while let first = entries.first, epoch.map({ first.epoch <= $0 }) ?? true {
            released.append(entries.removeFirst())
            let left = perConnection[first.connection, default: 1] - 1
            perConnection[first.connection] = left > 0 ? left : nil
        }
        return released
    }
}

extension WorkerEvent {
    /// A publisher confirm (ack or nack).
    var isConfirm: Bool {
        switch self {
        case .accepted, .rejected: true
        default: false
        }
    }
}

extension PartitionHost {
    func openStore(_ root: String) throws {
        try DataDirectory.claim(root, partitions: configuration.partitions)
        let directory = DataDirectory.partitionPath(root, partition: configuration.partition.index)
        let (store, recovered) = try MessageStore.open(
            directory: directory, partition: configuration.partition.index, partitions: configuration.partitions,
            segmentLimit: configuration.segmentSize, logger: logger)
        self.store = store
        engine.journal = store
        engine.paging = configuration.paging
        advanceClock()
        for queue in recovered {
            switch queue.definition.kind {
            case .delayedExchange:
                engine.restoreDelayed(queue.definition, ref: queue.ref, run: queue.run, nextSequence: queue.nextSequence)
            case .queue:
                guard !engine.restoreQueue(queue.definition, ref: queue.ref, run: queue.run,
                                           nextSequence: queue.nextSequence, now: engineTime) else { continue }
                logger.error("a recovered queue's arguments no longer parse; it is left out",
                             metadata: ["queue": "\(queue.definition.id)"])
            }
        }
    }

    func hold(_ event: WorkerEvent, for connection: ConnectionID) {
        guard let ref = stream(of: connection), let store else { return }
        held.append(HeldConfirms.Entry(epoch: store.pendingEpoch, connection: connection, stream: ref, event: event))
        scheduleFlush()
    }

    /// Writes the tick's records, then starts a sync if confirms wait for one.
    func writeStore() {
        guard let store else { return }
        do {
            try store.writeBuffered()
            if storeFailing {
                storeFailing = false
                logger.notice("the message store is writable again")
            }
        } catch {
            if !storeFailing {
                storeFailing = true
                logger.error("cannot write the message store; confirms become nacks until it can",
                             metadata: ["error": "\(error)"])
            }
            // Nothing held can be promised: nack it all (the publisher may publish again).
            releaseHeld(upTo: nil, failed: true)
            return
        }
        startSync()
    }

    private func startSync() {
        guard !syncRunning, !held.isEmpty, let store, let job = store.beginSync() else { return }
        syncRunning = true
        let started = NIODeadline.now()
        syncThread.runIfActive(eventLoop: eventLoop) { job.run() }.assumeIsolated().whenComplete { [self] _ in
            syncRunning = false
            syncLatency.observe(seconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9)
            store.endSync(job)
            releaseHeld(upTo: job.epoch, failed: false)
            startSync()
        }
    }

    private func releaseHeld(upTo epoch: UInt64?, failed: Bool) {
        for entry in held.release(upTo: epoch) {
            let live = connections[entry.connection] == entry.stream
                || (entry.connection == RouterLinkSession.routerConnection && controlStreams.contains(entry.stream))
            guard live else { continue }
            var event = entry.event
            if failed, case .accepted(let channel, let sequence) = event {
                event = .rejected(channel: channel, confirmSequence: sequence)
            }
            send(event, on: entry.stream)
        }
    }

    /// The store's figures for /v1/stats.
    var storeStats: WorkerStats.Store? {
        guard let store else { return nil }
        var stats = WorkerStats.Store()
        stats.writes = store.writes
        stats.writtenBytes = store.writtenBytes
        stats.syncs = store.syncs
        stats.syncLatency = syncLatency
        stats.segments = store.segmentCount
        stats.diskBytes = store.diskBytes
        return stats
    }

    /// Makes everything recorded durable and closes the files (on shutdown).
    func closeStore() {
        guard let store else { return }
        do {
            try store.syncAll()
        } catch {
            logger.error("cannot sync the message store on shutdown", metadata: ["error": "\(error)"])
        }
        releaseHeld(upTo: nil, failed: false)
        store.close()
        self.store = nil
    }
}
