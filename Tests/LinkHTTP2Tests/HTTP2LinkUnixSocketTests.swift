// Integration: a client and a server link over a real Unix domain socket (NIOPosix).
// Compiled only when NIOPosix is a declared dependency of this test target: `canImport(NIOPosix)`
// alone is not enough, because another target may have built NIOPosix into the shared module
// directory, yet its C module (CNIOPosix) is only visible to targets that depend on it.
#if canImport(NIOPosix) && canImport(CNIOPosix)
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import LinkHTTP2

/// Server side: answers every stream with 200 and echoes its bytes back, ending when the
/// client ends; reports when the link goes away.
private final class EchoDelegate: HTTP2LinkDelegate {
    let gone: EventLoopPromise<Int>
    var bytesSeen = 0

    init(gone: EventLoopPromise<Int>) { self.gone = gone }

    func linkActive(_ link: HTTP2LinkHandler) {}
    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String) {
        link.respond(stream: stream, status: 200, endStream: false)
    }
    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int) {}
    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer) {
        bytesSeen += data.readableBytes
        link.send(stream: stream, data: data)
    }
    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID) { link.endStream(stream) }
    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32) {}
    func linkInactive(_ link: HTTP2LinkHandler) { gone.succeed(bytesSeen) }
}

/// Client side: collects what comes back on its stream until the server ends it.
private final class CollectingDelegate: HTTP2LinkDelegate {
    let done: EventLoopPromise<ByteBuffer>
    var status = 0
    var received = ByteBuffer()

    init(done: EventLoopPromise<ByteBuffer>) { self.done = done }

    func linkActive(_ link: HTTP2LinkHandler) {}
    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String) {}
    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int) { self.status = status }
    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer) {
        var data = data
        received.writeBuffer(&data)
    }
    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID) {
        if status == 200 { done.succeed(received) } else { done.fail(ChannelError.inappropriateOperationForState) }
    }
    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32) {
        if errorCode != 0 { done.fail(ChannelError.inputClosed) }
    }
    func linkInactive(_ link: HTTP2LinkHandler) { done.fail(ChannelError.ioOnClosedChannel) }
}

@Suite("HTTP2LinkHandler over a Unix socket")
struct HTTP2LinkUnixSocketTests {
    @Test(.timeLimit(.minutes(1)))
    func oneMegabyteEchoesOnOneStream() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("link-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("worker-0.sock").path
        var logger = Logger(label: "link-socket-test")
        logger.logLevel = .warning
        let serverLogger = logger
        let loop = group.next()
        let serverGone = loop.makePromise(of: Int.self)

        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = HTTP2LinkHandler(role: .server, logger: serverLogger)
                    handler.delegate = EchoDelegate(gone: serverGone)  // owned by the link
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(unixDomainSocketPath: path)
            .get()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTP2LinkHandler(role: .client, logger: serverLogger))
                }
            }
            .connect(unixDomainSocketPath: path)
            .get()

        var expected = ByteBuffer()
        for index in 0..<(1 << 20) / 1024 {
            expected.writeRepeatingByte(UInt8(truncatingIfNeeded: index &* 31), count: 1024)
        }
        let payload = expected
        let echoed = try await client.eventLoop.flatSubmit { () -> EventLoopFuture<ByteBuffer> in
            let done = client.eventLoop.makePromise(of: ByteBuffer.self)
            do {
                let link = try client.pipeline.syncOperations.handler(type: HTTP2LinkHandler.self)
                link.delegate = CollectingDelegate(done: done)
                let stream = link.openStream(method: "POST", path: "/v1/connections/1", endStream: false)
                var rest = payload
                while let message = rest.readSlice(length: min(1024, rest.readableBytes)), message.readableBytes > 0 {
                    link.send(stream: stream, data: message)
                }
                link.endStream(stream)
            } catch {
                done.fail(error)
            }
            return done.futureResult
        }.get()
        #expect(echoed == expected)

        try await client.close()
        let serverSaw = try await serverGone.futureResult.get()
        #expect(serverSaw == 1 << 20)

        try await server.close()
        try await group.shutdownGracefully()
    }
}
#endif
