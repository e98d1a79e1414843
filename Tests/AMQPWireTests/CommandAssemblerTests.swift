import NIOCore
import Testing
import TestSupport
@testable import AMQPWire

@Suite("CommandAssembler")
struct CommandAssemblerTests {
    let publish = AMQPMethod.basicPublish(BasicPublish(exchange: "x", routingKey: "k"))

    func header(_ size: UInt64, classID: UInt16 = 60) -> ContentHeader {
        ContentHeader(classID: classID, bodySize: size, properties: BasicProperties(deliveryMode: 2))
    }

    func expectError(_ code: ReplyCode, channel: UInt16, _ frames: [Frame]) {
        var assembler = CommandAssembler()
        var error: AMQPWireError?
        for frame in frames {
            error = wireError { () throws(AMQPWireError) in try assembler.process(frame) }
            if error != nil { break }
        }
        #expect(error?.code == code, "\(frames)")
        #expect(error?.channel == channel)
    }

    @Test("method, header and three bodies make one content command")
    func happyPath() throws {
        var assembler = CommandAssembler()
        #expect(try assembler.process(.method(channel: 1, publish)) == nil)
        #expect(assembler.isAssemblingContent(on: 1))
        #expect(try assembler.process(.header(channel: 1, header(11))) == nil)
        #expect(try assembler.process(.body(channel: 1, ByteBuffer(string: "hell"))) == nil)
        #expect(try assembler.process(.body(channel: 1, ByteBuffer(string: "o w"))) == nil)
        let command = try assembler.process(.body(channel: 1, ByteBuffer(string: "orld")))
        #expect(command == .content(channel: 1, publish, header(11), body: ByteBuffer(string: "hello world")))
        #expect(!assembler.isAssemblingContent(on: 1))
        // Ready for the next command.
        #expect(try assembler.process(.method(channel: 1, .basicAck(BasicAck(deliveryTag: 1))))
            == .method(channel: 1, .basicAck(BasicAck(deliveryTag: 1))))
    }

    @Test("a single body frame is passed through as the same slice")
    func singleFrameIsSameSlice() throws {
        var assembler = CommandAssembler()
        let storage = ByteBuffer(string: "..payload..")
        let fragment = storage.getSlice(at: 2, length: 7)!
        _ = try assembler.process(.method(channel: 1, publish))
        _ = try assembler.process(.header(channel: 1, header(7)))
        guard case .content(_, _, _, let body)? = try assembler.process(.body(channel: 1, fragment)) else {
            Issue.record("expected content")
            return
        }
        let same = body.withUnsafeReadableBytes { a in fragment.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
        #expect(same)
    }

    @Test("a zero-size body completes at the header")
    func emptyBody() throws {
        var assembler = CommandAssembler()
        _ = try assembler.process(.method(channel: 2, publish))
        #expect(try assembler.process(.header(channel: 2, header(0))) == .content(channel: 2, publish, header(0), body: ByteBuffer()))
        // A body frame now is unexpected.
        #expect(wireError { () throws(AMQPWireError) in try assembler.process(.body(channel: 2, ByteBuffer())) }?.code == .unexpectedFrame)
    }

    @Test("channels interleave independently, heartbeats pass through")
    func interleaved() throws {
        var assembler = CommandAssembler()
        let deliver = AMQPMethod.basicGetOk(BasicGetOk(deliveryTag: 9))
        #expect(try assembler.process(.method(channel: 1, publish)) == nil)
        #expect(try assembler.process(.method(channel: 2, deliver)) == nil)
        #expect(try assembler.process(.header(channel: 2, header(2))) == nil)
        #expect(try assembler.process(.heartbeat) == .heartbeat)
        #expect(try assembler.process(.header(channel: 1, header(3))) == nil)
        #expect(try assembler.process(.method(channel: 3, .channelOpen(ChannelOpen()))) == .method(channel: 3, .channelOpen(ChannelOpen())))
        #expect(try assembler.process(.body(channel: 1, ByteBuffer(string: "a"))) == nil)
        #expect(try assembler.process(.body(channel: 2, ByteBuffer(string: "xy"))) == .content(channel: 2, deliver, header(2), body: ByteBuffer(string: "xy")))
        #expect(try assembler.process(.body(channel: 1, ByteBuffer(string: "bc"))) == .content(channel: 1, publish, header(3), body: ByteBuffer(string: "abc")))
    }

    @Test("contents on many channels, interleaved frame by frame in a shuffled order, each assemble whole")
    func shuffledInterleaving() throws {
        var generator = SeededGenerator.forTest("shuffledInterleaving")
        for _ in 0..<200 {
            // Per channel: method, header, then its body in 1-byte frames.
            var pending: [UInt16: [Frame]] = [:]
            for channel in UInt16(1)...4 {
                let body = String(repeating: Character(UnicodeScalar(96 + UInt8(channel))), count: Int(channel))
                pending[channel] = [.method(channel: channel, publish), .header(channel: channel, header(UInt64(body.count)))]
                    + body.map { .body(channel: channel, ByteBuffer(string: String($0))) }
            }
            var assembler = CommandAssembler()
            var done: [UInt16: Command] = [:]
            while let channel = pending.keys.filter({ !pending[$0]!.isEmpty }).randomElement(using: &generator) {
                let frame = pending[channel]!.removeFirst()
                if let command = try assembler.process(frame) { done[channel] = command }
            }
            for channel in UInt16(1)...4 {
                let body = String(repeating: Character(UnicodeScalar(96 + UInt8(channel))), count: Int(channel))
                #expect(done[channel] == .content(channel: channel, publish, header(UInt64(body.count)), body: ByteBuffer(string: body)))
                #expect(!assembler.isAssemblingContent(on: channel))
            }
        }
    }

    @Test("a header with no content method pending is a 505")
    func headerWithoutMethod() {
        expectError(.unexpectedFrame, channel: 1, [.header(channel: 1, header(1))])
        // On another channel than the pending method.
        expectError(.unexpectedFrame, channel: 2, [.method(channel: 1, publish), .header(channel: 2, header(1))])
    }

    @Test("a body with no content pending is a 505")
    func bodyWithoutMethod() {
        expectError(.unexpectedFrame, channel: 1, [.body(channel: 1, ByteBuffer(string: "x"))])
    }

    @Test("a body before the header is a 505")
    func bodyBeforeHeader() {
        expectError(.unexpectedFrame, channel: 1, [.method(channel: 1, publish), .body(channel: 1, ByteBuffer(string: "x"))])
    }

    @Test("a second header is a 505")
    func secondHeader() {
        expectError(.unexpectedFrame, channel: 1, [.method(channel: 1, publish), .header(channel: 1, header(5)), .header(channel: 1, header(5))])
    }

    @Test("a method while the header is awaited is a 505")
    func methodWhileAwaitingHeader() {
        expectError(.unexpectedFrame, channel: 1, [.method(channel: 1, publish), .method(channel: 1, publish)])
    }

    @Test("a method while the body is incomplete is a 505")
    func methodWhileAwaitingBody() {
        expectError(.unexpectedFrame, channel: 1, [
            .method(channel: 1, publish), .header(channel: 1, header(5)), .body(channel: 1, ByteBuffer(string: "ab")),
            .method(channel: 1, .basicAck(BasicAck())),
        ])
    }

    @Test("a header of another class or with a weight is a 505")
    func wrongHeaderClass() {
        expectError(.unexpectedFrame, channel: 1, [.method(channel: 1, publish), .header(channel: 1, header(5, classID: 50))])
        var weighted = header(5)
        weighted.weight = 1
        expectError(.unexpectedFrame, channel: 1, [.method(channel: 1, publish), .header(channel: 1, weighted)])
    }

    @Test("a body frame beyond the declared size is a 501, as in RabbitMQ")
    func bodyOverrun() {
        expectError(.frameError, channel: 1, [.method(channel: 1, publish), .header(channel: 1, header(3)), .body(channel: 1, ByteBuffer(string: "abcd"))])
        expectError(.frameError, channel: 1, [
            .method(channel: 1, publish), .header(channel: 1, header(3)),
            .body(channel: 1, ByteBuffer(string: "ab")), .body(channel: 1, ByteBuffer(string: "cd")),
        ])
    }

    @Test("a declared body size above the limit is a 501")
    func bodyTooLarge() {
        var assembler = CommandAssembler(maxBodySize: 100)
        _ = try? assembler.process(.method(channel: 1, publish))
        let error = wireError { () throws(AMQPWireError) in try assembler.process(.header(channel: 1, header(101))) }
        #expect(error?.code == .frameError)
        #expect(error?.classID == 60 && error?.methodID == 40)
    }
}
