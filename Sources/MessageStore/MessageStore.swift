// One partition's message store (Docs/storage.md): append-only segment files in the
// directory of the current generation, written once per event-loop tick (one `pwrite` for
// everything the tick recorded) and synced by the worker's sync thread, one `fdatasync`
// for every confirm that waits (group commit). A segment whose messages are all gone is
// deleted once every older one is (so that no removal record is lost while the message it
// removes is still on disk). Owned by the worker's one thread, like the engine; only
// `SyncJob.run` happens elsewhere.
import BrokerModel
import LinkWire
import Logging
import NIOCore
import PartitionEngine

#if canImport(Glibc)
import Glibc
import SystemFiles
#endif

public final class MessageStore: PartitionJournal {
    struct Segment {
        var number: UInt32
        var fd: Int32
        /// Bytes on the file (the header included).
        var size: UInt64
        /// Messages in it that are still wanted.
        var live: Int
    }

    let generationPath: String
    let partition: Int
    let partitions: Int
    let segmentLimit: UInt64
    var catalog: QueueCatalog
    let logger: Logger

    /// Oldest first; the last is the one being appended to.
    var segments: [Segment] = []
    /// Records of this tick, written at the next `writeBuffered`.
    var buffer = ByteBuffer()
    /// Segments written since the last sync began.
    private var unsynced: Set<UInt32> = []
    /// Counts the writes; a sync covers every write up to its epoch.
    public private(set) var writeEpoch: UInt64 = 0
    public private(set) var syncedEpoch: UInt64 = 0
    private var syncing = false
    /// The last write failed (e.g. the disk is full).
    private var writeFailing = false
    /// Since the store opened: pwrite calls, their bytes, and sync rounds.
    public private(set) var writes: UInt64 = 0
    public private(set) var writtenBytes: UInt64 = 0
    public private(set) var syncs: UInt64 = 0
    /// Wall-clock minus engine milliseconds, to keep expiry times across restarts.
    let wallOffset: Int64

    init(generationPath: String, catalog: QueueCatalog, partition: Int, partitions: Int, segmentLimit: UInt64,
         firstSegment: UInt32, logger: Logger) throws(FileError) {
        self.generationPath = generationPath
        self.catalog = catalog
        self.partition = partition
        self.partitions = partitions
        self.segmentLimit = segmentLimit
        self.logger = logger
        self.wallOffset = Int64(Self.wallMilliseconds()) - Int64(Self.engineMilliseconds())
        try openSegment(firstSegment)
    }

    /// Segment files on disk, and their bytes.
    public var segmentCount: Int { segments.count }
    public var diskBytes: UInt64 { segments.reduce(0) { $0 &+ $1.size } }

    /// Records wait to be written.
    public var hasBuffered: Bool { buffer.readableBytes > 0 }

    /// The epoch whose sync covers everything recorded so far.
    public var pendingEpoch: UInt64 { buffer.readableBytes > 0 ? writeEpoch &+ 1 : writeEpoch }

    // MARK: PartitionJournal

    public func queuesDeclared(_ queues: [JournalQueue]) -> [UInt32] {
        do {
            return try catalog.add(queues)
        } catch {
            logger.error("cannot record durable queues", metadata: ["queues": "\(queues.map(\.id))", "error": "\(error)"])
            return queues.map { _ in 0 }
        }
    }

    public func queueDeleted(_ ref: UInt32) {
        do {
            try catalog.remove(ref)
        } catch {
            logger.error("cannot record the deletion of a durable queue", metadata: ["ref": "\(ref)", "error": "\(error)"])
        }
    }

    public var appendPosition: JournalPosition {
        let last = segments[segments.count - 1]
        return JournalPosition(segment: last.number, offset: last.size &+ UInt64(buffer.readableBytes))
    }

    public func append(_ message: LinkMessage, queue ref: UInt32, sequence: UInt64, expiresAt: UInt64,
                       redelivered: Bool, persistent: Bool) -> UInt32 {
        if segments[segments.count - 1].size &+ UInt64(buffer.readableBytes) >= segmentLimit { rotate() }
        var flags: MessageFlags = persistent ? .persistent : []
        if redelivered { flags.insert(.redelivered) }
        RecordCodec.writeMessage(into: &buffer, queue: ref, sequence: sequence, expiresAtWall: wallTime(expiresAt),
                                 flags: flags, message: message)
        segments[segments.count - 1].live &+= 1
        return segments[segments.count - 1].number
    }

    public func delivered(queue ref: UInt32, sequence: UInt64) {
        RecordCodec.writeMarker(into: &buffer, .delivered, queue: ref, sequence: sequence)
    }

    public func removed(queue ref: UInt32, sequence: UInt64, segment: UInt32) {
        RecordCodec.writeMarker(into: &buffer, .removed, queue: ref, sequence: sequence)
        release(segment: segment, count: 1)
    }

    public func removed(queue ref: UInt32, from first: UInt64, through last: UInt64) {
        RecordCodec.writeRange(into: &buffer, queue: ref, first: first, last: last)
    }

    public func release(segment: UInt32, count: Int) {
        guard let index = index(of: segment) else { return }
        segments[index].live &-= count
        if index == 0 { collect() }
    }

    /// Present in a partition's directory after `carryOver`, until the next recovery.
    static let carriedFile = "CARRIED"

    public func carryOver() throws {
        try syncAll()
        try Files.replace(Files.parent(of: generationPath) + "/" + Self.carriedFile,
                          with: ByteBuffer(string: "transient messages and queues carried over by a handover\n"))
    }

    // MARK: Writing and syncing

    /// Writes what this tick recorded (one pwrite). On failure (e.g. a full disk) the
    /// records stay buffered for the next attempt, and the error is thrown.
    public func writeBuffered() throws(FileError) {
        guard buffer.readableBytes > 0 else { return }
        let index = segments.count - 1
        do {
            try Files.write(buffer, to: segments[index].fd, at: segments[index].size, path: path(segments[index].number))
            writeFailing = false
        } catch {
            // Cut what a partial write left, so the file stays well formed and the space is
            // free for the retry.
            _ = ftruncate(segments[index].fd, off_t(segments[index].size))
            writeFailing = true
            collect()
            throw error
        }
        segments[index].size &+= UInt64(buffer.readableBytes)
        writes &+= 1
        writtenBytes &+= UInt64(buffer.readableBytes)
        buffer.clear()
        unsynced.insert(segments[index].number)
        writeEpoch &+= 1
    }

    /// What a sync thread must do to make every write so far durable; nil when nothing
    /// waits or a sync is already running.
    public func beginSync() -> SyncJob? {
        guard !syncing, syncedEpoch < writeEpoch else { return nil }
        syncing = true
        let fds = segments.filter { unsynced.contains($0.number) }.map(\.fd)
        unsynced.removeAll(keepingCapacity: true)
        return SyncJob(fds: fds, epoch: writeEpoch)
    }

    public func endSync(_ job: SyncJob) {
        syncing = false
        syncs &+= 1
        syncedEpoch = max(syncedEpoch, job.epoch)
        collect()
    }

    /// Syncs every segment now (start-up and shutdown).
    public func syncAll() throws(FileError) {
        try writeBuffered()
        for segment in segments { Files.sync(segment.fd) }
        syncedEpoch = writeEpoch
        unsynced.removeAll()
    }

    private func rotate() {
        do {
            try writeBuffered()
            try openSegment(segments[segments.count - 1].number &+ 1)
            Files.syncDirectory(generationPath)
        } catch {
            logger.error("cannot start a new segment", metadata: ["error": "\(error)"])
        }
    }

    func openSegment(_ number: UInt32) throws(FileError) {
        let path = path(number)
        let fd = try Files.open(path, create: true)
        let header = RecordCodec.segmentHeader(partition: partition, partitions: partitions, segment: number)
        try Files.write(header, to: fd, at: 0, path: path)
        segments.append(Segment(number: number, fd: fd, size: UInt64(header.readableBytes), live: 0))
        unsynced.insert(number)
    }

    /// Deletes the oldest segments while nothing in them is wanted (never during a sync,
    /// which may be using their descriptors).
    private func collect() {
        guard !syncing else { return }
        while segments.count > 1, segments[0].live <= 0 { deleteOldest() }
        // The segment being appended to can go too once nothing in it is wanted: after a new
        // one is started (when it has grown to a quarter of the limit, or at once when writes
        // fail, e.g. on a full disk, so that its space comes back).
        if segments.count == 1, segments[0].live <= 0,
           writeFailing || segments[0].size >= segmentLimit / 4 {
            do {
                try openSegment(segments[0].number &+ 1)
                Files.syncDirectory(generationPath)
                deleteOldest()
            } catch {
                logger.error("cannot start a new segment", metadata: ["error": "\(error)"])
            }
        }
    }

    private func deleteOldest() {
        let segment = segments.removeFirst()
        Glibc.close(segment.fd)
        unlink(path(segment.number))
        unsynced.remove(segment.number)
    }

    func index(of segment: UInt32) -> Int? {
        guard let first = segments.first, segment >= first.number else { return nil }
        let index = Int(segment &- first.number)
        return index < segments.count ? index : nil
    }

    func path(_ segment: UInt32) -> String { Self.segmentPath(generationPath, segment) }

    static func segmentPath(_ generation: String, _ segment: UInt32) -> String {
        let digits = String(segment)
        return generation + "/" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".seg"
    }

    /// Closes every file (after `syncAll`).
    public func close() {
        for segment in segments { Glibc.close(segment.fd) }
        segments.removeAll()
    }

    // MARK: Clocks

    func wallTime(_ engineTime: UInt64) -> UInt64 {
        engineTime == .max ? 0 : UInt64(max(1, Int64(clamping: engineTime) &+ wallOffset))
    }

    func engineTime(_ wallTime: UInt64) -> UInt64 {
        wallTime == 0 ? .max : UInt64(max(0, Int64(clamping: wallTime) &- wallOffset))
    }

    static func wallMilliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }

    /// The worker's engine clock: monotonic milliseconds (NIODeadline's clock).
    static func engineMilliseconds() -> UInt64 {
        UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
    }
}

/// The fdatasync calls that make a batch of writes durable; safe to run on another thread.
public struct SyncJob: Sendable {
    let fds: [Int32]
    public let epoch: UInt64

    public func run() {
        for fd in fds { Files.sync(fd) }
    }
}
