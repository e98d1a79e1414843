// The taking side of a handover (`broker cluster move-partition`, Docs/scale-out.md): a worker
// starting on the partition's new host links to the owner (mutual TLS, as a router would),
// asks it for the partition under the owner's epoch, writes the files it streams back into
// this host's data directory, and then says it has them, so that the owner lets go of its
// claim. Only then does the new worker claim the partition and open its store.
import LinkHTTP2
import LinkTransport
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SystemFiles

public enum PartitionHandover {
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// How long either end may hear nothing from the other before it gives the handover up.
    static let quiet = Duration.seconds(60)

    /// Takes the partition from the worker at `owner` (whose claim has `epoch`) into
    /// `directory`; returns the files and bytes written.
    public static func take(from owner: LinkEndpoint, epoch: Int64, tls: LinkTLS, into directory: String,
                            logger: Logger) async throws -> (files: Int, bytes: UInt64) {
        let context = try tls.clientContext()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let loop = group.next()
        let done = loop.makePromise(of: (files: Int, bytes: UInt64).self)
        let channel: Channel
        do {
            let unpacker = try PartitionArchive.Unpacker(target: directory)
            channel = try await ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try LinkSocket.configure(channel)
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                        let handler = HTTP2LinkHandler(role: .client, logger: logger)
                        handler.delegate = HandoverReceiver(epoch: epoch, unpacker: unpacker, done: done, loop: channel.eventLoop,
                                                            logger: logger)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(to: owner).get()
        } catch {
            done.fail(error)
            throw error
        }
        defer { channel.close(promise: nil) }
        return try await done.futureResult.get()
    }
}

/// Asks for the partition, writes what comes, then says so.
private final class HandoverReceiver: HTTP2LinkDelegate {
    private let epoch: Int64
    private var unpacker: PartitionArchive.Unpacker
    private let done: EventLoopPromise<(files: Int, bytes: UInt64)>
    private let logger: Logger
    private var files = HTTP2StreamID.invalid
    private var written = HTTP2StreamID.invalid
    private var finished = false
    /// When the owner last sent something: a link that stays quiet (a host gone without a
    /// word) ends the take.
    private var heard = ContinuousClock.now

    init(epoch: Int64, unpacker: PartitionArchive.Unpacker, done: EventLoopPromise<(files: Int, bytes: UInt64)>,
         loop: EventLoop, logger: Logger) {
        self.epoch = epoch
        self.unpacker = unpacker
        self.done = done
        self.logger = logger
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { task in
            let receiver = bound.value
            if receiver.finished {
                task.cancel()
            } else if ContinuousClock.now - receiver.heard > PartitionHandover.quiet {
                receiver.finished = true
                receiver.done.fail(PartitionHandover.Failed(description: "nothing came from the owner for \(PartitionHandover.quiet)"))
            }
        }
    }

    func linkActive(_ link: HTTP2LinkHandler) {
        files = link.openStream(method: "POST", path: "/v1/handover?epoch=\(epoch)", endStream: true)
    }

    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String) {}

    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int) {
        guard status != 200 else { return }
        fail(link, stream == files ? "the owner refused the handover (status \(status))"
                                   : "the owner did not take the word that the files were written (status \(status))")
    }

    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer) {
        guard stream == files, !finished else { return }
        heard = .now
        do {
            try unpacker.append(data)
        } catch {
            fail(link, "cannot write the partition's files: \(error)")
        }
    }

    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID) {
        guard !finished else { return }
        if stream == files {
            do {
                try unpacker.finish()
            } catch {
                return fail(link, "\(error)")
            }
            logger.info("took the partition's files from its owner", metadata: ["files": "\(unpacker.files)", "bytes": "\(unpacker.bytes)"])
            written = link.openStream(method: "POST", path: "/v1/handover-done?epoch=\(epoch)", endStream: true)
        } else if stream == written {
            finished = true
            done.succeed((unpacker.files, unpacker.bytes))
        }
    }

    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32) {
        if errorCode != 0 { fail(link, "the owner reset the handover (HTTP/2 error \(errorCode))") }
    }

    func linkInactive(_ link: HTTP2LinkHandler) {
        fail(link, "the link to the owner closed before the handover was done")
    }

    private func fail(_ link: HTTP2LinkHandler, _ reason: String) {
        guard !finished else { return }
        finished = true
        done.fail(PartitionHandover.Failed(description: reason))
        link.closeConnection()
    }
}
