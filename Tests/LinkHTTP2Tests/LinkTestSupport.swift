import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import LinkHTTP2

/// Records every delegate call; optional hooks let a test answer (e.g. respond on open).
final class RecordingDelegate: HTTP2LinkDelegate {
    var activeCount = 0
    var inactiveCount = 0
    var opened: [(stream: HTTP2StreamID, method: String, path: String)] = []
    var responses: [HTTP2StreamID: Int] = [:]
    var received: [HTTP2StreamID: ByteBuffer] = [:]
    var dataCalls = 0
    var ended: [HTTP2StreamID] = []
    var closed: [(stream: HTTP2StreamID, errorCode: UInt32)] = []
    var onOpen: ((HTTP2LinkHandler, HTTP2StreamID, String, String) -> Void)?
    var onEnd: ((HTTP2LinkHandler, HTTP2StreamID) -> Void)?

    func linkActive(_ link: HTTP2LinkHandler) { activeCount += 1 }

    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String) {
        opened.append((stream, method, path))
        onOpen?(link, stream, method, path)
    }

    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int) {
        responses[stream] = status
    }

    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer) {
        dataCalls += 1
        var data = data
        received[stream, default: ByteBuffer()].writeBuffer(&data)
    }

    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID) {
        ended.append(stream)
        onEnd?(link, stream)
    }

    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32) {
        closed.append((stream, errorCode))
    }

    func linkInactive(_ link: HTTP2LinkHandler) { inactiveCount += 1 }

    func closeCode(_ stream: HTTP2StreamID) -> UInt32? {
        closed.first { $0.stream == stream }?.errorCode
    }
}

/// Counts HTTP/2 frames in one direction of a connection (RFC 9113 §4.1 frame layout).
struct FrameCounter {
    private var pending = ByteBuffer()
    private var prefaceLeft: Int
    var frames: [UInt8: Int] = [:]
    var dataFrames = 0
    var dataPayloadBytes = 0
    var largestDataFrame = 0
    var writes = 0

    init(skipsClientPreface: Bool) {
        prefaceLeft = skipsClientPreface ? 24 : 0
    }

    mutating func observe(_ buffer: ByteBuffer) {
        writes += 1
        var buffer = buffer
        if prefaceLeft > 0 {
            let skip = min(prefaceLeft, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: skip)
            prefaceLeft -= skip
        }
        pending.writeBuffer(&buffer)
        while pending.readableBytes >= 9 {
            let length = Int(pending.getInteger(at: pending.readerIndex, as: UInt16.self)!) << 8
                | Int(pending.getInteger(at: pending.readerIndex + 2, as: UInt8.self)!)
            guard pending.readableBytes >= 9 + length else { break }
            let type = pending.getInteger(at: pending.readerIndex + 3, as: UInt8.self)!
            frames[type, default: 0] += 1
            if type == 0 {
                dataFrames += 1
                dataPayloadBytes += length
                largestDataFrame = max(largestDataFrame, length)
            }
            pending.moveReaderIndex(forwardBy: 9 + length)
        }
        pending.discardReadBytes()
    }
}

/// A client and a server link, each in an EmbeddedChannel, wired together in memory.
final class LinkPair {
    let client: HTTP2LinkHandler
    let server: HTTP2LinkHandler
    let clientChannel: EmbeddedChannel
    let serverChannel: EmbeddedChannel
    let clientEvents = RecordingDelegate()
    let serverEvents = RecordingDelegate()
    var clientToServer = FrameCounter(skipsClientPreface: true)
    var serverToClient = FrameCounter(skipsClientPreface: false)

    init(settings: HTTP2LinkSettings = .init()) throws {
        var logger = Logger(label: "link-test")
        logger.logLevel = .warning
        client = HTTP2LinkHandler(role: .client, settings: settings, logger: logger)
        server = HTTP2LinkHandler(role: .server, settings: settings, logger: logger)
        client.delegate = clientEvents
        server.delegate = serverEvents
        clientChannel = EmbeddedChannel(handler: client)
        serverChannel = EmbeddedChannel(handler: server)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try serverChannel.connect(to: address).wait()
        try clientChannel.connect(to: address).wait()
    }

    /// Runs both loops and moves bytes both ways until neither side has anything to say.
    func interact() throws {
        for _ in 0..<10_000 {
            var moved = false
            clientChannel.embeddedEventLoop.run()
            serverChannel.embeddedEventLoop.run()
            while let bytes = try clientChannel.readOutbound(as: ByteBuffer.self) {
                clientToServer.observe(bytes)
                moved = true
                if serverChannel.isActive { try serverChannel.writeInbound(bytes) }
            }
            while let bytes = try serverChannel.readOutbound(as: ByteBuffer.self) {
                serverToClient.observe(bytes)
                moved = true
                if clientChannel.isActive { try clientChannel.writeInbound(bytes) }
            }
            if !moved { return }
        }
        Issue.record("link pair did not go quiet")
    }

    func finish() {
        _ = try? clientChannel.finish(acceptAlreadyClosed: true)
        _ = try? serverChannel.finish(acceptAlreadyClosed: true)
    }
}

/// `count` small messages, each a 4-byte sequence number and 8 bytes of filler.
func smallMessages(_ count: Int, tag: UInt8 = 0xAB) -> [ByteBuffer] {
    (0..<count).map { index in
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(index))
        buffer.writeRepeatingByte(tag, count: 8)
        return buffer
    }
}

func concatenated(_ buffers: [ByteBuffer]) -> ByteBuffer {
    var all = ByteBuffer()
    for var buffer in buffers { all.writeBuffer(&buffer) }
    return all
}
