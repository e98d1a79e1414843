// Start-up: rebuild a partition's durable queues from its store. The current generation's
// segments are read in order (a torn or corrupt record ends its segment, with one log line
// naming the file and offset); the messages still wanted are copied, queue by queue in
// order, into a new generation, which `CURRENT` then names, and the old one is deleted. A
// crash at any point leaves `CURRENT` naming a complete generation.
import LinkWire
import Logging
import NIOCore
import PartitionEngine

#if canImport(Glibc)
import Glibc
import SystemFiles
#endif

/// A durable queue as recovered: its messages are on disk, described by `run`.
public struct RecoveredQueue: Sendable {
    public let ref: UInt32
    public let definition: JournalQueue
    public let run: PagedRun?
    public let nextSequence: UInt64
}

extension MessageStore {
    /// Opens (or creates) the store of `partition` in `directory`, recovering what it held.
    public static func open(directory: String, partition: Int, partitions: Int, segmentLimit: UInt64 = 64 << 20,
                            logger: Logger) throws(FileError) -> (MessageStore, [RecoveredQueue]) {
        let started = engineMilliseconds()
        try DataDirectory.makeDirectories(directory)
        var catalog = try QueueCatalog(path: directory + "/queues")
        // A handover marked the store: this recovery keeps what lived in memory, once.
        let carriedPath = directory + "/" + carriedFile
        let carried = Files.isRegularFile(carriedPath)
        if !carried { try catalog.removeCarried() }
        let currentPath = directory + "/CURRENT"
        var generation = 0
        if let text = try Files.contents(of: currentPath) {
            let name = String(buffer: text).trimmingCharacters(in: " \n")
            guard name.hasPrefix("gen-"), let number = Int(name.dropFirst(4)) else {
                throw FileError("\(currentPath) is unreadable: '\(name)'")
            }
            generation = number
        }
        let oldPath = directory + "/gen-\(generation)"
        for name in Files.list(directory) where name.hasPrefix("gen-") && name != "gen-\(generation)" {
            Files.removeTree(directory + "/" + name)  // an interrupted compaction
        }
        var scan = RecoveryScan(known: Set(catalog.queues.keys), keepTransient: carried, partition: partition, logger: logger)
        if generation > 0 { try scan.read(generation: oldPath) }

        let newPath = directory + "/gen-\(generation + 1)"
        try Files.makeDirectory(newPath)
        let store = try MessageStore(generationPath: newPath, catalog: catalog, partition: partition, partitions: partitions,
                                     segmentLimit: segmentLimit, firstSegment: 1, logger: logger)
        var recovered: [RecoveredQueue] = []
        var copied = 0
        var transient = 0
        var copier = RecordCopier(generation: oldPath)
        for (ref, definition) in catalog.queues.sorted(by: { $0.key < $1.key }) {
            let entries = (scan.live[ref] ?? [:]).sorted { $0.key < $1.key }
            var run: PagedRun?
            for (sequence, location) in entries {
                guard let (expires, message) = copier.message(at: location) else { continue }
                if run == nil { run = PagedRun(firstSequence: sequence, cursor: store.appendPosition) }
                // A transient message stays one: it is not recovered again after a restart here.
                let segment = store.append(message, queue: ref, sequence: sequence, expiresAt: store.engineTime(expires),
                                           redelivered: location.redelivered, persistent: location.persistent)
                run!.added(segment: segment, bytes: message.body.readableBytes)
                copied += 1
                if !location.persistent { transient += 1 }
                if copied % 1_000_000 == 0 {
                    try store.writeBuffered()
                    logger.info("recovering the message store", metadata: ["messages": "\(copied)", "of": "\(scan.liveCount)"])
                }
            }
            recovered.append(RecoveredQueue(ref: ref, definition: definition, run: run,
                                            nextSequence: max(scan.nextSequence[ref] ?? 0, (entries.last?.key ?? 0) &+ 1)))
        }
        copier.close()
        try store.syncAll()
        Files.syncDirectory(newPath)
        try Files.replace(currentPath, with: ByteBuffer(string: "gen-\(generation + 1)\n"))
        Files.removeTree(oldPath)
        if carried {
            unlink(carriedPath)
            Files.syncDirectory(directory)
            logger.info("kept what a handover carried over", metadata: [
                "transientMessages": "\(transient)", "carriedQueues": "\(catalog.queues.values.filter(\.isCarried).count)"])
        }
        logger.info("message store ready", metadata: [
            "partition": "\(partition)", "queues": "\(recovered.count)", "messages": "\(copied)",
            "segmentsRead": "\(scan.segmentsRead)", "damagedRecords": "\(scan.damaged)",
            "milliseconds": "\(engineMilliseconds() - started)"])
        return (store, recovered)
    }
}

/// Where a wanted message's record is in the old generation.
struct RecordLocation {
    var segment: UInt32
    var offset: UInt64
    var redelivered: Bool
    var persistent: Bool
}

/// The first pass: which messages are still wanted, per queue.
struct RecoveryScan {
    let known: Set<UInt32>
    /// Transient messages are wanted too (after a handover).
    let keepTransient: Bool
    let partition: Int
    let logger: Logger
    var live: [UInt32: [UInt64: RecordLocation]] = [:]
    var nextSequence: [UInt32: UInt64] = [:]
    var liveCount = 0
    var segmentsRead = 0
    var damaged = 0
    private var records = 0

    init(known: Set<UInt32>, keepTransient: Bool = false, partition: Int, logger: Logger) {
        self.known = known
        self.keepTransient = keepTransient
        self.partition = partition
        self.logger = logger
    }

    mutating func read(generation path: String) throws(FileError) {
        let numbers = Files.list(path).compactMap { name -> UInt32? in
            name.hasSuffix(".seg") ? UInt32(name.dropLast(4)) : nil
        }.sorted()
        for number in numbers {
            let file = MessageStore.segmentPath(path, number)
            let fd = try Files.open(file, create: false)
            defer { close(fd) }
            let size = Files.size(of: fd)
            let header = Files.read(fd, at: 0, length: StoreFormat.segmentHeaderSize)
            if let problem = RecordCodec.headerProblem(header, partition: partition) {
                if size <= UInt64(StoreFormat.segmentHeaderSize) { continue }  // created, never written
                throw FileError("\(file): \(problem)")
            }
            segmentsRead += 1
            var reader = SegmentReader(fd: fd, path: file, size: size, offset: UInt64(StoreFormat.segmentHeaderSize))
            reading: while true {
                let start = reader.offset
                switch reader.next() {
                case .record(let record):
                    apply(record, segment: number, offset: start)
                case .end:
                    break reading
                case .damaged(let offset, let reason):
                    damaged += 1
                    logger.warning("dropping a damaged record and the rest of its segment", metadata: [
                        "file": "\(file)", "offset": "\(offset)", "reason": "\(reason)"])
                    break reading
                }
            }
        }
    }

    private mutating func apply(_ record: StoreRecord, segment: UInt32, offset: UInt64) {
        records += 1
        if records % 1_000_000 == 0 {
            logger.info("reading the message store", metadata: ["records": "\(records)", "wanted": "\(liveCount)"])
        }
        switch record {
        case .message(let queue, let sequence, _, let flags, _):
            guard known.contains(queue) else { return }
            nextSequence[queue] = max(nextSequence[queue] ?? 0, sequence &+ 1)
            let persistent = flags.contains(.persistent)
            guard persistent || keepTransient else { return }
            if live[queue, default: [:]].updateValue(
                RecordLocation(segment: segment, offset: offset, redelivered: flags.contains(.redelivered), persistent: persistent),
                forKey: sequence) == nil {
                liveCount += 1
            }
        case .delivered(let queue, let sequence):
            live[queue]?[sequence]?.redelivered = true
        case .removed(let queue, let sequence):
            if live[queue]?.removeValue(forKey: sequence) != nil { liveCount -= 1 }
        case .removedRange(let queue, let first, let last):
            guard let entries = live[queue] else { return }
            let before = entries.count
            live[queue] = entries.filter { $0.key < first || $0.key > last }
            liveCount -= before - live[queue]!.count
        }
    }
}

/// The second pass: reads wanted records back from the old generation.
struct RecordCopier {
    let generation: String
    private var readers: [UInt32: SegmentReader] = [:]

    init(generation: String) { self.generation = generation }

    mutating func message(at location: RecordLocation) -> (expiresAtWall: UInt64, message: LinkMessage)? {
        if readers[location.segment] == nil {
            let file = MessageStore.segmentPath(generation, location.segment)
            guard let fd = try? Files.open(file, create: false) else { return nil }
            readers[location.segment] = SegmentReader(fd: fd, path: file, size: Files.size(of: fd), offset: location.offset)
        }
        readers[location.segment]!.offset = location.offset
        guard case .record(.message(_, _, let expires, _, let message)) = readers[location.segment]!.next() else { return nil }
        return (expires, message)
    }

    mutating func close() {
        for reader in readers.values { Glibc.close(reader.fd) }
        readers.removeAll()
    }
}
