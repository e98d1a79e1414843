import NIOCore
import Testing
import TestSupport
@testable import AMQPWire

@Suite("FrameDecoder and FrameEncoder")
struct FrameCodecTests {
    static let sampleFrames: [Frame] = [
        .method(channel: 0, .connectionStart(ConnectionStart(versionMajor: 0, versionMinor: 9,
            serverProperties: ["product": .longString(Array("broker".utf8)), "capabilities": .table(["basic.nack": .bool(true)])],
            mechanisms: Array("PLAIN AMQPLAIN".utf8), locales: Array("en_US".utf8)))),
        .heartbeat,
        .method(channel: 1, .basicPublish(BasicPublish(exchange: "amq.direct", routingKey: "rk", mandatory: true))),
        .header(channel: 1, ContentHeader(bodySize: 5, properties: BasicProperties(contentType: "text/plain", deliveryMode: 2))),
        .body(channel: 1, ByteBuffer(string: "hel")),
        .body(channel: 1, ByteBuffer(string: "lo")),
        .method(channel: 65535, .channelClose(ChannelClose(replyCode: 404, replyText: "NOT_FOUND", classId: 50, methodId: 10))),
        .body(channel: 2, ByteBuffer()),
    ]

    @Test("frames decode the same drip-fed one byte at a time as all at once")
    func dripFeed() throws {
        let bytes = encodeFrames(Self.sampleFrames)
        let whole = try decodeFrames(bytes, chunk: bytes.readableBytes)
        #expect(whole == Self.sampleFrames)
        #expect(try decodeFrames(bytes, chunk: 1) == Self.sampleFrames)
        #expect(try decodeFrames(bytes, chunk: 7) == Self.sampleFrames)
    }

    @Test("every method sample survives framing")
    func allMethodsFramed() throws {
        let frames = MethodSamples.all.enumerated().map { Frame.method(channel: UInt16($0.offset), $0.element) }
        #expect(try decodeFrames(encodeFrames(frames), chunk: 100) == frames)
    }

    @Test("the heartbeat frame is 8 bytes on channel 0")
    func heartbeatBytes() {
        #expect(encodeFrames([.heartbeat]).hexString == "08" + "0000" + "00000000" + "ce")
    }

    @Test("a body frame is a slice of the appended bytes")
    func bodyIsSlice() throws {
        let bytes = encodeFrames([.body(channel: 3, ByteBuffer(string: "payload"))])
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(bytes)
        guard case .body(3, let body)? = try decoder.nextFrame() else {
            Issue.record("expected a body frame")
            return
        }
        let same = body.withUnsafeReadableBytes { a in
            bytes.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress! + 7 }
        }
        #expect(same)
        #expect(try decoder.nextFrame() == nil)
        #expect(decoder.bufferedBytes == 0)
    }

    @Test("an oversize frame is rejected as soon as its header arrives")
    func oversizeRejectedAfterHeader() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        // A payload of 4097 bytes, beyond even RabbitMQ's 8-byte fudge; only the 7 header
        // bytes are given.
        decoder.append(ByteBuffer(hex: "03000100001001"))
        let error = wireError { () throws(AMQPWireError) in try decoder.nextFrame() }
        #expect(error?.code == .frameError)
        #expect(error?.channel == 1)
        // The decoder stays failed.
        #expect(wireError { () throws(AMQPWireError) in try decoder.nextFrame() } == error)
    }

    @Test("a payload of frame_max bytes (pamqp's cut, RabbitMQ's fudge) is accepted, one more is not")
    func fudgedFrameMax() throws {
        let body = ByteBuffer(repeating: 7, count: 4096)
        let frames = try decodeFrames(encodeFrames([.body(channel: 1, body)]), chunk: 1000, maxFrameSize: 4096)
        #expect(frames == [.body(channel: 1, body)])
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(encodeFrames([.body(channel: 1, ByteBuffer(repeating: 7, count: 4097))]))
        #expect(wireError { () throws(AMQPWireError) in try decoder.nextFrame() }?.code == .frameError)
    }

    @Test("a frame of exactly frame_max is accepted")
    func exactFrameMax() throws {
        let body = ByteBuffer(repeating: 7, count: 4096 - 8)
        let frames = try decodeFrames(encodeFrames([.body(channel: 1, body)]), chunk: 1000, maxFrameSize: 4096)
        #expect(frames == [.body(channel: 1, body)])
        var unlimited = FrameDecoder(maxFrameSize: 0)
        unlimited.append(encodeFrames([.body(channel: 1, ByteBuffer(repeating: 1, count: 200_000))]))
        #expect(try unlimited.nextFrame() != nil)
    }

    @Test("a bad frame-end octet is a 501")
    func badFrameEnd() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(ByteBuffer(hex: "0300010000000161ff"))
        #expect(wireError { () throws(AMQPWireError) in try decoder.nextFrame() }?.code == .frameError)
    }

    @Test("an unknown frame type is a 501 before the payload arrives")
    func unknownFrameType() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(ByteBuffer(hex: "04000000000001"))
        #expect(wireError { () throws(AMQPWireError) in try decoder.nextFrame() }?.code == .frameError)
    }

    @Test("a heartbeat on a non-zero channel or with a payload is a 501 (spec 4.2.7)")
    func badHeartbeats() {
        var onChannel = FrameDecoder(maxFrameSize: 4096)
        onChannel.append(ByteBuffer(hex: "08000500000000ce"))
        #expect(wireError { () throws(AMQPWireError) in try onChannel.nextFrame() }?.code == .frameError)
        var withPayload = FrameDecoder(maxFrameSize: 4096)
        withPayload.append(ByteBuffer(hex: "0800000000000100ce"))
        #expect(wireError { () throws(AMQPWireError) in try withPayload.nextFrame() }?.code == .frameError)
    }

    @Test("malformed method arguments in a frame are a 502 carrying the channel")
    func malformedMethodFrame() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        // basic.publish with a short string longer than the payload.
        decoder.append(ByteBuffer(hex: "010007" + "00000007" + "003c0028" + "0000" + "09" + "ce"))
        let error = wireError { () throws(AMQPWireError) in try decoder.nextFrame() }
        #expect(error?.code == .syntaxError)
        #expect(error?.channel == 7)
        #expect(error?.classID == 60 && error?.methodID == 40)
    }

    @Test("random garbage never crashes the decoder")
    func garbage() {
        var generator = SeededGenerator.forTest("FrameCodecTests.garbage")
        for _ in 0..<500 {
            var decoder = FrameDecoder(maxFrameSize: 4096)
            var bytes = ByteBuffer()
            // A plausible header followed by random bytes exercises the payload decoders.
            bytes.writeMultipleIntegers(UInt8.random(in: 1...3, using: &generator), UInt16(1),
                                        UInt32.random(in: 0...40, using: &generator))
            for _ in 0..<Int.random(in: 0...60, using: &generator) {
                bytes.writeInteger(UInt8.random(in: 0...255, using: &generator))
            }
            decoder.append(bytes)
            while true {
                do {
                    guard try decoder.nextFrame() != nil else { break }
                } catch {
                    break
                }
            }
        }
    }

    @Test("encodeContent splits the body into frames of at most frameMax - 8 bytes")
    func encodeContentSplits() throws {
        let body = ByteBuffer(repeating: 0xAB, count: 10_000)
        let method = AMQPMethod.basicDeliver(BasicDeliver(consumerTag: "ctag", deliveryTag: 1, exchange: "", routingKey: "q"))
        let header = ContentHeader(bodySize: 10_000, properties: .none)
        var out = ByteBuffer()
        FrameEncoder.encodeContent(channel: 4, method: method, header: header, body: body, frameMax: 4096, into: &out)
        let frames = try decodeFrames(out, chunk: 333, maxFrameSize: 4096)
        #expect(frames.count == 2 + 3)
        #expect(frames[0] == .method(channel: 4, method))
        #expect(frames[1] == .header(channel: 4, header))
        let sizes = frames.dropFirst(2).map { frame -> Int in
            guard case .body(4, let b) = frame else { return -1 }
            return b.readableBytes
        }
        #expect(sizes == [4088, 4088, 1824])
    }

    @Test("encodeContent writes no body frame for an empty body")
    func encodeContentEmpty() throws {
        var out = ByteBuffer()
        FrameEncoder.encodeContent(channel: 1, method: .basicPublish(BasicPublish()),
                                   header: ContentHeader(bodySize: 0, properties: .none),
                                   body: ByteBuffer(), frameMax: 4096, into: &out)
        #expect(try decodeFrames(out, chunk: 1).count == 2)
        var unlimited = ByteBuffer()
        FrameEncoder.encodeContent(channel: 1, method: .basicPublish(BasicPublish()),
                                   header: ContentHeader(bodySize: 9000, properties: .none),
                                   body: ByteBuffer(repeating: 1, count: 9000), frameMax: 0, into: &unlimited)
        #expect(try decodeFrames(unlimited, chunk: 1 << 20, maxFrameSize: 0).count == 3)
    }

    @Test("the protocol header is matched and consumed")
    func protocolHeader() {
        var partial = ByteBuffer(bytes: Array("AMQP".utf8))
        #expect(ProtocolHeader.match(&partial) == .incomplete)
        #expect(partial.readableBytes == 4)
        var good = ByteBuffer(bytes: ProtocolHeader.amqp091 + [1])
        #expect(ProtocolHeader.match(&good) == .accepted)
        #expect(good.readableBytes == 1)
        // 0-9's header is spoken as 0-9-1, as RabbitMQ does (txAMQP sends it).
        var zeroNine = ByteBuffer(bytes: Array("AMQP".utf8) + [1, 1, 0, 9])
        #expect(ProtocolHeader.match(&zeroNine) == .accepted)
        var zeroEight = ByteBuffer(bytes: Array("AMQP".utf8) + [1, 1, 8, 0])
        #expect(ProtocolHeader.match(&zeroEight) == .rejected(Array("AMQP".utf8) + [1, 1, 8, 0]))
    }
}
