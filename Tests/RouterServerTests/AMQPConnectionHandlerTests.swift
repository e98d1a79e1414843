// The router's connection handler driven through an EmbeddedChannel: bytes in, frames out,
// time advanced on the embedded loop. No worker is linked, so these sessions stay on what
// the router answers itself (handshake, heartbeats, channels, exchanges, unroutable publishes).
import AMQPWire
import BrokerModel
import Logging
import NIOCore
import NIOEmbedded
import RouterCore
import Testing
@testable import RouterServer

@Suite("AMQPConnectionHandler")
struct AMQPConnectionHandlerTests {
    /// A client's side of one embedded connection.
    final class Session {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        var decoder = FrameDecoder(maxFrameSize: 0)

        init(heartbeat: UInt16 = 0) throws {
            let context = RouterContext(partitions: 1, heartbeatSeconds: heartbeat)
            let services = LoopServices(index: 0, eventLoop: loop, links: [])
            let handler = AMQPConnectionHandler(id: ConnectionID(1), context: context, services: services,
                                                logger: Logger(label: "test"))
            channel = EmbeddedChannel(handler: handler, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5672)).wait()
        }

        func write(_ bytes: [UInt8]) throws {
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            try channel.writeInbound(buffer)
            loop.run()
        }

        func send(_ frames: Frame...) throws {
            var buffer = channel.allocator.buffer(capacity: 256)
            for frame in frames { FrameEncoder.encode(frame, into: &buffer) }
            try channel.writeInbound(buffer)
            loop.run()
        }

        func send(_ method: AMQPMethod, channel number: UInt16 = 0) throws {
            try send(.method(channel: number, method))
        }

        func publish(_ publish: BasicPublish, body: String, channel number: UInt16) throws {
            var buffer = channel.allocator.buffer(capacity: 256)
            let body = ByteBuffer(string: body)
            FrameEncoder.encodeContent(channel: number, method: .basicPublish(publish),
                                       header: ContentHeader(bodySize: UInt64(body.readableBytes), properties: BasicProperties()),
                                       body: body, frameMax: 4096, into: &buffer)
            try channel.writeInbound(buffer)
            loop.run()
        }

        /// Every frame the handler has written since the last call.
        func received() throws -> [Frame] {
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { decoder.append(buffer) }
            var frames: [Frame] = []
            while let frame = try decoder.nextFrame() { frames.append(frame) }
            return frames
        }

        /// The methods written since the last call, with their channels (content frames left out).
        func methods() throws -> [Frame] {
            try received().filter { if case .method = $0 { true } else { false } }
        }

        func handshake(heartbeat: UInt16 = 0) throws {
            try write(ProtocolHeader.amqp091)
            guard case .method(0, .connectionStart)? = try methods().first else {
                Issue.record("no connection.start")
                return
            }
            let startOk = ConnectionStartOk(clientProperties: [:], mechanism: "PLAIN",
                                            response: Array("\0guest\0guest".utf8), locale: "en_US")
            try send(.connectionStartOk(startOk))
            guard case .method(0, .connectionTune)? = try methods().first else {
                Issue.record("no connection.tune")
                return
            }
            try send(.connectionTuneOk(ConnectionTuneOk(channelMax: 16, frameMax: 4096, heartbeat: heartbeat)))
            try send(.connectionOpen(ConnectionOpen(virtualHost: "/")))
            #expect(try methods() == [.method(channel: 0, .connectionOpenOk(ConnectionOpenOk()))])
        }
    }

    @Test("a full handshake ends in open-ok")
    func handshake() throws {
        let session = try Session()
        try session.handshake()
        #expect(session.channel.isActive)
    }

    @Test("a wrong protocol header gets ours back and the socket closes")
    func wrongHeader() throws {
        let session = try Session()
        try session.write(Array("GET / HT".utf8))
        var reply = try #require(try session.channel.readOutbound(as: ByteBuffer.self))
        #expect(reply.readBytes(length: reply.readableBytes) == ProtocolHeader.amqp091)
        #expect(!session.channel.isActive)
    }

    @Test("heartbeats go out at half the interval; a silent client is closed after two")
    func heartbeats() throws {
        let session = try Session(heartbeat: 4)
        try session.handshake(heartbeat: 4)
        session.loop.advanceTime(by: .seconds(2))
        #expect(try session.received() == [.heartbeat])
        try session.send(.heartbeat)
        session.loop.advanceTime(by: .seconds(6))
        #expect(session.channel.isActive)
        session.loop.advanceTime(by: .seconds(4))
        #expect(!session.channel.isActive)
    }

    @Test("a handshake that never finishes is closed after the timeout")
    func handshakeTimeout() throws {
        let session = try Session()
        try session.write(ProtocolHeader.amqp091)
        session.loop.advanceTime(by: .seconds(9))
        #expect(session.channel.isActive)
        session.loop.advanceTime(by: .seconds(2))
        #expect(!session.channel.isActive)
    }

    @Test("channels open and close; an exchange declare is answered; a bad exchange type is 503")
    func channelsAndExchanges() throws {
        let session = try Session()
        try session.handshake()
        try session.send(.channelOpen(ChannelOpen()), channel: 1)
        #expect(try session.methods() == [.method(channel: 1, .channelOpenOk(ChannelOpenOk()))])
        try session.send(.exchangeDeclare(ExchangeDeclare(exchange: "x", type: "fanout")), channel: 1)
        #expect(try session.methods() == [.method(channel: 1, .exchangeDeclareOk(ExchangeDeclareOk()))])
        try session.send(.exchangeDeclare(ExchangeDeclare(exchange: "x", type: "direct")), channel: 1)
        guard case .method(1, .channelClose(let close))? = try session.methods().first else {
            Issue.record("no channel.close")
            return
        }
        #expect(close.replyCode == 406)
        try session.send(.channelCloseOk(ChannelCloseOk()), channel: 1)
        try session.send(.channelOpen(ChannelOpen()), channel: 1)
        #expect(try session.methods() == [.method(channel: 1, .channelOpenOk(ChannelOpenOk()))])
        try session.send(.exchangeDeclare(ExchangeDeclare(exchange: "y", type: "nonsense")), channel: 1)
        guard case .method(0, .connectionClose(let connectionClose))? = try session.methods().first else {
            Issue.record("no connection.close")
            return
        }
        #expect(connectionClose.replyCode == 503)
        try session.send(.connectionCloseOk(ConnectionCloseOk()))
        #expect(!session.channel.isActive)
    }

    @Test("an unroutable mandatory publish in confirm mode is returned, then acked")
    func unroutablePublish() throws {
        let session = try Session()
        try session.handshake()
        try session.send(.channelOpen(ChannelOpen()), channel: 1)
        try session.send(.confirmSelect(ConfirmSelect(nowait: false)), channel: 1)
        #expect(try session.methods() == [.method(channel: 1, .channelOpenOk(ChannelOpenOk())),
                                          .method(channel: 1, .confirmSelectOk(ConfirmSelectOk()))])
        try session.publish(BasicPublish(exchange: "", routingKey: "nowhere", mandatory: true), body: "hello", channel: 1)
        #expect(try session.methods() == [
            .method(channel: 1, .basicReturn(BasicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "", routingKey: "nowhere"))),
            .method(channel: 1, .basicAck(BasicAck(deliveryTag: 1, multiple: false))),
        ])
    }

    @Test("the client's close is answered and the socket left for the client to close")
    func clientClose() throws {
        let session = try Session()
        try session.handshake()
        try session.send(.connectionClose(ConnectionClose(replyCode: 200, replyText: "bye", classId: 0, methodId: 0)))
        #expect(try session.methods() == [.method(channel: 0, .connectionCloseOk(ConnectionCloseOk()))])
        #expect(session.channel.isActive)
        session.loop.advanceTime(by: .seconds(3))
        #expect(!session.channel.isActive)
    }
}
