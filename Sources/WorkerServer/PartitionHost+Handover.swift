// Handing the partition to a worker on another host (`broker cluster move-partition`,
// Docs/scale-out.md). The new worker links to this one as a router would and asks for the
// partition. This worker drains as on a clean stop (store synced and closed, confirms sent),
// closes every other link, and streams its store's files on the request's stream
// (SystemFiles/PartitionArchive). Once the new worker has written them all it says so, and
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
        guard let root = configuration.dataDirectory, handover == nil else {
            logger.error("refused a handover: this worker keeps no store, or hands over already")
            link.respond(stream: stream, status: 409, endStream: true)
            return
        }
        logger.info("handing the partition over to a worker on another host: draining")
        for channel in drain() where (try? channel.pipeline.syncOperations.handler(type: HTTP2LinkHandler.self)) !== link {
            // After the drain's writes, which the link handler flushes before it closes.
            channel.eventLoop.execute { channel.close(promise: nil) }
        }
        link.respond(stream: stream, status: 200, endStream: false)
        let sender = HandoverSender(directory: DataDirectory.partitionPath(root, partition: configuration.partition.index),
                                    link: link, stream: stream)
        handover = sender
        pumpHandover()
    }

    /// Sends more of the files; once the last is queued, the new worker has
    /// `handoverAnswerTime` to say it wrote them.
    func pumpHandover(from link: HTTP2LinkHandler? = nil) {
        handover?.pump(from: link) {
            eventLoop.scheduleTask(in: Self.handoverAnswerTime) { self.endHandover(done: false) }
        }
    }

    /// The handover is over, one way or the other; once only.
    func endHandover(done: Bool) {
        guard let handover, !handover.ended else { return }
        handover.ended = true
        if !done { logger.error("the handover was not finished: the new worker went away or did not say it had the files") }
        handoverEnded?(done)
    }

    /// How long the new worker has, after the last file, to say it wrote them.
    static let handoverAnswerTime = TimeAmount.seconds(60)
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
    /// `finished` is called once the last piece is queued.
    func pump(from writer: HTTP2LinkHandler? = nil, finished whenFinished: () -> Void = {}) {
        guard !finished, let link, writer == nil || writer === link else { return }
        while link.queuedBytes(on: stream) < Self.ahead {
            guard let file = current ?? openNext() else {
                finished = true
                link.endStream(stream)
                whenFinished()
                return
            }
            let piece = Files.read(file.fd, at: file.offset, length: Int(min(UInt64(Self.piece), file.size - file.offset)))
            link.send(stream: stream, data: piece)
            bytes += UInt64(piece.readableBytes)
            let offset = file.offset + UInt64(piece.readableBytes)
            if offset >= file.size || piece.readableBytes == 0 {
                close(file.fd)
                current = nil
            } else {
                current = (file.fd, file.path, offset, file.size)
            }
        }
    }

    /// Opens the next file and queues its header; nil when none is left.
    private func openNext() -> (fd: Int32, path: String, offset: UInt64, size: UInt64)? {
        while let relative = files.first {
            files.removeFirst()
            guard let fd = try? Files.open(directory + "/" + relative, create: false) else { continue }
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
