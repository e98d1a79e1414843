// Handing the partition to a worker on another host (`broker cluster move-partition`,
// Docs/scale-out.md). The new worker links to this one as a router would and asks for the
// partition. This worker writes what lives in memory only to its store (transient messages,
// non-durable queues: PartitionEngine+CarryOver), drains as on a clean stop (store synced
// and closed, confirms sent), closes every other link, and streams its store's files on the
// request's stream (SystemFiles/PartitionArchive). Once the new worker has written them all it says so, and
// this worker gives up its claim and exits; routers follow the map to the new owner.
import LinkHTTP2
import NIOCore
import SystemFiles

#if canImport(Glibc)
import Glibc
#endif

extension PartitionHost {
    /// The new owner asked for the partition on `stream`.
    func handOver(on link: HTTP2LinkHandler, stream: HTTP2StreamID) {
        // Only a worker with a claim in etcd hands over: a single-host worker has no taker.
        guard let root = configuration.dataDirectory, configuration.claimEpoch != nil, handover == nil else {
            logger.error("refused a handover: this worker has no claim in etcd or no store, or hands over already")
            link.respond(stream: stream, status: 409, endStream: true)
            return
        }
        logger.info("handing the partition over to a worker on another host: draining")
        do {
            try engine.carryOver()
        } catch {
            logger.error("cannot write the partition's transient messages and non-durable queues to its store; they are not handed over",
                         metadata: ["error": "\(error)"])
        }
        for channel in drain() where (try? channel.pipeline.syncOperations.handler(type: HTTP2LinkHandler.self)) !== link {
            // After the drain's writes, which the link handler flushes before it closes.
            channel.eventLoop.execute { channel.close(promise: nil) }
        }
        link.respond(stream: stream, status: 200, endStream: false)
        let sender = HandoverSender(directory: DataDirectory.partitionPath(root, partition: configuration.partition.index),
                                    link: link, stream: stream)
        handover = sender
        pumpHandover()
        // A taker that goes quiet (its host gone without a word, or stuck) ends the handover.
        eventLoop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { task in
            guard !sender.ended else { return task.cancel() }
            if ContinuousClock.now - sender.lastProgress > PartitionHandover.quiet { self.endHandover(done: false) }
        }
    }

    /// Sends more of the files.
    func pumpHandover(from link: HTTP2LinkHandler? = nil) {
        guard let handover else { return }
        do {
            try handover.pump(from: link)
        } catch {
            logger.error("cannot send the partition's files", metadata: ["error": "\(error)"])
            endHandover(done: false)
        }
    }

    /// The taker says it wrote every file. This worker's copy is set aside first
    /// (`partition-<P>.moved-<epoch>`, synced), so that no later start here recovers it;
    /// only then is the taker told, and it may claim the partition.
    func handoverWritten(on link: HTTP2LinkHandler) -> Bool {
        guard let handover, handover.isOn(link), handover.finished, !handover.ended, let root = configuration.dataDirectory else {
            return false
        }
        let path = DataDirectory.partitionPath(root, partition: configuration.partition.index)
        guard rename(path, DataDirectory.movedPath(root, partition: configuration.partition.index,
                                                   epoch: configuration.claimEpoch ?? 0)) == 0 else {
            logger.error("cannot set the handed-over store aside", metadata: ["path": "\(path)"])
            endHandover(done: false)
            return false
        }
        Files.syncDirectory(root)
        logger.info("the new worker has the partition's files", metadata: ["files": "\(handover.fileCount)", "bytes": "\(handover.bytes)"])
        endHandover(done: true)
        return true
    }

    /// The handover is over, one way or the other; once only.
    func endHandover(done: Bool) {
        guard let handover, !handover.ended else { return }
        handover.ended = true
        if !done { logger.error("the handover was not finished: the new worker went away or did not say it had the files") }
        handoverEnded?(done)
    }
}

/// Streams a partition's files, a piece at a time, as the link writes them out.
final class HandoverSender {
    private let directory: String
    private weak var link: HTTP2LinkHandler?
    private let stream: HTTP2StreamID
    private var files: [String]
    private var current: (fd: Int32, path: String, offset: UInt64, size: UInt64)?
    /// Set once every file was queued and the stream ended.
    private(set) var finished = false
    /// Set once the new worker said it had them all, or the handover failed.
    var ended = false
    /// When a piece last went out, or the last one did.
    private(set) var lastProgress = ContinuousClock.now
    private(set) var bytes: UInt64 = 0
    private(set) var fileCount = 0

    /// Bytes read per piece, and how many may wait in the link's queue.
    static let piece = 1 << 20
    static let ahead = 4 << 20

    init(directory: String, link: HTTP2LinkHandler, stream: HTTP2StreamID) {
        self.directory = directory
        self.link = link
        self.stream = stream
        self.files = PartitionArchive.files(under: directory)
    }

    func isOn(_ link: HTTP2LinkHandler) -> Bool { self.link === link }

    /// Queues pieces until the link holds `ahead` bytes; called again each time it wrote.
    func pump(from writer: HTTP2LinkHandler? = nil) throws(FileError) {
        guard !finished, !ended, let link, writer == nil || writer === link else { return }
        lastProgress = .now
        while link.queuedBytes(on: stream) < Self.ahead {
            if current == nil { current = try openNext() }
            guard let file = current else {
                finished = true
                link.endStream(stream)
                return
            }
            let piece = Files.read(file.fd, at: file.offset, length: Int(min(UInt64(Self.piece), file.size - file.offset)))
            guard piece.readableBytes > 0 else {
                close(file.fd)
                throw FileError("\(file.path) ended at \(file.offset) of \(file.size) bytes")
            }
            link.send(stream: stream, data: piece)
            bytes += UInt64(piece.readableBytes)
            let offset = file.offset + UInt64(piece.readableBytes)
            if offset >= file.size {
                close(file.fd)
                current = nil
            } else {
                current = (file.fd, file.path, offset, file.size)
            }
        }
    }

    /// Opens the next file and queues its header; nil when none is left.
    private func openNext() throws(FileError) -> (fd: Int32, path: String, offset: UInt64, size: UInt64)? {
        while let relative = files.first {
            files.removeFirst()
            let fd = try Files.open(directory + "/" + relative, create: false)
            let size = Files.size(of: fd)
            link?.send(stream: stream, data: PartitionArchive.header(path: relative, size: size))
            fileCount += 1
            if size == 0 {
                close(fd)
                continue
            }
            current = (fd, relative, 0, size)
            return current
        }
        return nil
    }
}
