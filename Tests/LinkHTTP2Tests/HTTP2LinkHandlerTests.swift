import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import LinkHTTP2

@Suite("HTTP2LinkHandler in memory")
struct HTTP2LinkHandlerTests {
    @Test func connectionComesUpOnBothSides() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        #expect(pair.clientEvents.activeCount == 1)
        #expect(pair.serverEvents.activeCount == 1)
        // SETTINGS both ways, their ACKs, and the connection WINDOW_UPDATEs.
        #expect(pair.clientToServer.frames[4] == 2)
        #expect(pair.serverToClient.frames[4] == 2)
    }

    @Test func tenThousandSmallMessagesArriveInOrderSharingDataFrames() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        let stream = pair.client.openStream(method: "POST", path: "/v1/connections/42", endStream: false)
        #expect(stream.isValid)
        let messages = smallMessages(10_000)
        let writesBefore = pair.clientToServer.writes
        for message in messages { pair.client.send(stream: stream, data: message) }
        try pair.interact()

        #expect(pair.serverEvents.opened.count == 1)
        #expect(pair.serverEvents.opened.first?.method == "POST")
        #expect(pair.serverEvents.opened.first?.path == "/v1/connections/42")
        let server = pair.serverEvents.opened[0].stream
        #expect(pair.serverEvents.received[server] == concatenated(messages))
        // 120,000 bytes: one HEADERS + one DATA frame, one write for the whole tick.
        #expect(pair.clientToServer.dataFrames == 1)
        #expect(pair.clientToServer.writes - writesBefore == 1)
        #expect(pair.serverEvents.dataCalls <= 2)
    }

    @Test func sendsAcrossManyTicksResumeTheDeferredStream() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        let stream = pair.client.openStream(method: "POST", path: "/v1/connections/1", endStream: false)
        let messages = smallMessages(10_000)
        for batch in 0..<100 {
            for message in messages[(batch * 100)..<(batch * 100 + 100)] {
                pair.client.send(stream: stream, data: message)
            }
            try pair.interact()
        }
        let server = try #require(pair.serverEvents.opened.first?.stream)
        #expect(pair.serverEvents.received[server] == concatenated(messages))
        #expect(pair.clientToServer.dataFrames == 100)
    }

    @Test func serverSendsBackOnTheSameStream() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        let reply = smallMessages(5_000, tag: 0x5A)
        pair.serverEvents.onOpen = { link, stream, _, _ in
            link.respond(stream: stream, status: 200, endStream: false)
            for message in reply { link.send(stream: stream, data: message) }
        }
        try pair.interact()
        let stream = pair.client.openStream(method: "POST", path: "/v1/connections/7", endStream: false)
        pair.client.send(stream: stream, data: ByteBuffer(string: "hello"))
        try pair.interact()

        #expect(pair.clientEvents.responses[stream] == 200)
        #expect(pair.clientEvents.received[stream] == concatenated(reply))
        #expect(pair.serverToClient.dataFrames == 1)
        let server = pair.serverEvents.opened[0].stream
        #expect(pair.serverEvents.received[server] == ByteBuffer(string: "hello"))
        #expect(pair.clientEvents.closed.isEmpty)
        #expect(pair.serverEvents.closed.isEmpty)
    }

    @Test func endStreamReachesThePeerAndClosesTheStream() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        pair.serverEvents.onOpen = { link, stream, _, _ in
            link.respond(stream: stream, status: 200, endStream: false)
        }
        pair.serverEvents.onEnd = { link, stream in
            link.send(stream: stream, data: ByteBuffer(string: "bye"))
            link.endStream(stream)
        }
        try pair.interact()
        let stream = pair.client.openStream(method: "POST", path: "/v1/connections/9", endStream: false)
        pair.client.send(stream: stream, data: ByteBuffer(string: "last words"))
        pair.client.endStream(stream)
        pair.client.send(stream: stream, data: ByteBuffer(string: "dropped"))
        try pair.interact()

        let server = pair.serverEvents.opened[0].stream
        #expect(pair.serverEvents.received[server] == ByteBuffer(string: "last words"))
        #expect(pair.serverEvents.ended == [server])
        #expect(pair.clientEvents.received[stream] == ByteBuffer(string: "bye"))
        #expect(pair.clientEvents.ended == [stream])
        #expect(pair.clientEvents.closeCode(stream) == 0)
        #expect(pair.serverEvents.closeCode(server) == 0)
        #expect(pair.client.streams.isEmpty)
        #expect(pair.server.streams.isEmpty)
    }

    @Test func resetReachesThePeerWithItsErrorCode() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        pair.serverEvents.onOpen = { link, stream, _, _ in
            link.respond(stream: stream, status: 200, endStream: false)
        }
        try pair.interact()
        let first = pair.client.openStream(method: "POST", path: "/v1/connections/1", endStream: false)
        let second = pair.client.openStream(method: "POST", path: "/v1/connections/2", endStream: false)
        pair.client.send(stream: first, data: ByteBuffer(string: "x"))
        pair.client.send(stream: second, data: ByteBuffer(string: "y"))
        try pair.interact()

        pair.client.resetStream(first, errorCode: 8)  // CANCEL
        try pair.interact()
        let serverFirst = pair.serverEvents.opened[0].stream
        let serverSecond = pair.serverEvents.opened[1].stream
        #expect(pair.serverEvents.closeCode(serverFirst) == 8)
        #expect(pair.clientEvents.closeCode(first) == 8)

        pair.server.resetStream(serverSecond, errorCode: 1)  // PROTOCOL_ERROR
        try pair.interact()
        #expect(pair.clientEvents.closeCode(second) == 1)
        #expect(pair.serverEvents.closeCode(serverSecond) == 1)
        #expect(pair.clientEvents.inactiveCount == 0)
    }

    @Test func healthRequestIsAnsweredWithStatusAndBody() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        let body = #"{"status":"ok"}"#
        pair.serverEvents.onEnd = { link, stream in
            link.respond(stream: stream, status: 200, headers: [("Content-Type", "application/json")], endStream: false)
            link.send(stream: stream, data: ByteBuffer(string: body))
            link.endStream(stream)
        }
        try pair.interact()
        let stream = pair.client.openStream(method: "GET", path: "/v1/health", endStream: true)
        try pair.interact()

        #expect(pair.serverEvents.opened.first?.method == "GET")
        #expect(pair.serverEvents.opened.first?.path == "/v1/health")
        #expect(pair.clientEvents.responses[stream] == 200)
        #expect(pair.clientEvents.received[stream] == ByteBuffer(string: body))
        #expect(pair.clientEvents.ended == [stream])
        #expect(pair.clientEvents.closeCode(stream) == 0)
    }

    @Test func responseWithoutBodyEndsTheStream() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        pair.serverEvents.onEnd = { link, stream in
            link.respond(stream: stream, status: 404, endStream: true)
        }
        try pair.interact()
        let stream = pair.client.openStream(method: "GET", path: "/v1/nothing", endStream: true)
        try pair.interact()
        #expect(pair.clientEvents.responses[stream] == 404)
        #expect(pair.clientEvents.received[stream] == nil)
        #expect(pair.clientEvents.ended == [stream])
        #expect(pair.clientEvents.closeCode(stream) == 0)
    }

    @Test func interleavedStreamsKeepTheirBytesApart() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        pair.serverEvents.onOpen = { link, stream, _, _ in
            link.respond(stream: stream, status: 200, endStream: false)
        }
        try pair.interact()
        let a = pair.client.openStream(method: "POST", path: "/v1/connections/a", endStream: false)
        let b = pair.client.openStream(method: "POST", path: "/v1/connections/b", endStream: false)
        let aMessages = smallMessages(2_000, tag: 0xAA)
        let bMessages = smallMessages(2_000, tag: 0xBB)
        for round in 0..<20 {
            for index in (round * 100)..<(round * 100 + 100) {
                pair.client.send(stream: a, data: aMessages[index])
                pair.client.send(stream: b, data: bMessages[index])
            }
            if round % 3 == 0 { try pair.interact() }
        }
        try pair.interact()
        let byPath = Dictionary(uniqueKeysWithValues: pair.serverEvents.opened.map { ($0.path, $0.stream) })
        #expect(pair.serverEvents.received[byPath["/v1/connections/a"]!] == concatenated(aMessages))
        #expect(pair.serverEvents.received[byPath["/v1/connections/b"]!] == concatenated(bMessages))
    }

    @Test func moreThanAStreamWindowFlowsThroughWindowUpdates() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        let stream = pair.client.openStream(method: "POST", path: "/v1/connections/big", endStream: false)
        var chunk = ByteBuffer()
        var expected = ByteBuffer()
        for index in 0..<(20 << 20) / 65_536 {
            chunk.clear()
            chunk.writeRepeatingByte(UInt8(truncatingIfNeeded: index), count: 65_536)
            pair.client.send(stream: stream, data: chunk)
            expected.writeImmutableBuffer(chunk)
        }
        try pair.interact()
        let server = try #require(pair.serverEvents.opened.first?.stream)
        #expect(pair.serverEvents.received[server] == expected)
        #expect(pair.clientToServer.largestDataFrame == 1 << 20)
        #expect((pair.serverToClient.frames[8] ?? 0) > 0)  // WINDOW_UPDATE
    }

    @Test func clientCloseGivesLinkInactiveOnBothSides() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        let stream = pair.client.openStream(method: "POST", path: "/v1/connections/1", endStream: false)
        pair.client.send(stream: stream, data: ByteBuffer(string: "x"))
        try pair.interact()

        try pair.clientChannel.close().wait()
        #expect(pair.clientEvents.inactiveCount == 1)
        try pair.interact()  // carries the GOAWAY
        #expect(pair.serverEvents.inactiveCount == 1)
        #expect(!pair.serverChannel.isActive)
        #expect(pair.client.delegate == nil)
        #expect(pair.server.delegate == nil)
        // After the link is gone, opening fails cleanly.
        #expect(!pair.client.openStream(method: "POST", path: "/v1/connections/2", endStream: false).isValid)
    }

    @Test func connectionLossWithoutGoawayGivesLinkInactive() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        pair.serverChannel.pipeline.fireChannelInactive()
        #expect(pair.serverEvents.inactiveCount == 1)
        pair.serverChannel.pipeline.fireChannelInactive()
        #expect(pair.serverEvents.inactiveCount == 1)
    }

    @Test func garbageFromThePeerClosesTheLink() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        try pair.interact()
        try pair.serverChannel.writeInbound(ByteBuffer(string: "this is not HTTP/2 at all, not even close......"))
        pair.serverChannel.embeddedEventLoop.run()
        #expect(!pair.serverChannel.isActive)
        #expect(pair.serverEvents.inactiveCount == 1)
    }

    @Test func handlersAndDelegatesAreReleasedAfterClose() throws {
        weak var weakClient: HTTP2LinkHandler?
        weak var weakServer: HTTP2LinkHandler?
        weak var weakDelegate: RecordingDelegate?
        do {
            let pair = try LinkPair()
            weakClient = pair.client
            weakServer = pair.server
            weakDelegate = pair.serverEvents
            try pair.interact()
            _ = pair.client.openStream(method: "POST", path: "/v1/connections/1", endStream: false)
            try pair.interact()
            try pair.clientChannel.close().wait()
            try pair.interact()
            pair.finish()
        }
        #expect(weakClient == nil)
        #expect(weakServer == nil)
        #expect(weakDelegate == nil)
    }
}

@Suite("HTTP2LinkHandler protocol errors")
struct HTTP2LinkProtocolErrorTests {
    @Test func badClientPrefaceClosesTheServerLink() throws {
        let events = RecordingDelegate()
        let server = HTTP2LinkHandler(role: .server, logger: Logger(label: "link-test"))
        server.delegate = events
        let channel = EmbeddedChannel(handler: server)
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(!channel.isActive)
        #expect(events.activeCount == 1)
        #expect(events.inactiveCount == 1)
        #expect(events.opened.isEmpty)
    }

    @Test func serverQueuesDataSentBeforeItsResponse() throws {
        let pair = try LinkPair()
        defer { pair.finish() }
        pair.serverEvents.onOpen = { link, stream, _, _ in
            link.send(stream: stream, data: ByteBuffer(string: "early"))
            link.respond(stream: stream, status: 201, endStream: true)
        }
        try pair.interact()
        let stream = pair.client.openStream(method: "GET", path: "/v1/queues", endStream: true)
        try pair.interact()
        #expect(pair.clientEvents.responses[stream] == 201)
        #expect(pair.clientEvents.received[stream] == ByteBuffer(string: "early"))
        #expect(pair.clientEvents.ended == [stream])
    }
}
