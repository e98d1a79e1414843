import NIOCore
import Testing
import TestSupport
@testable import AMQPWire

@Suite("Generated methods")
struct MethodCodecTests {
    @Test("every generated method round-trips with every field set")
    func everyMethodRoundTrips() throws {
        for method in MethodSamples.all {
            var buffer = ByteBuffer()
            method.encode(into: &buffer)
            let decoded = try AMQPMethod.decode(from: &buffer)
            #expect(decoded == method, "\(method.name)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("the samples cover every method exactly once by name and id")
    func samplesCoverEveryMethod() {
        let names = Set(MethodSamples.all.map(\.name))
        #expect(names.count == MethodSamples.methodCount)
        let ids = Set(MethodSamples.all.map { UInt32($0.classID) << 16 | UInt32($0.methodID) })
        #expect(ids.count == MethodSamples.methodCount)
        #expect(names.contains("connection.update-secret"))
        #expect(names.contains("connection.blocked"))
        #expect(names.contains("confirm.select-ok"))
    }

    @Test("class id, method id, name and content flag follow the spec")
    func metadata() {
        let publish = AMQPMethod.basicPublish(BasicPublish(exchange: "x", routingKey: "k"))
        #expect(publish.classID == 60 && publish.methodID == 40)
        #expect(publish.name == "basic.publish")
        #expect(publish.hasContent)
        #expect(AMQPMethod.basicDeliver(BasicDeliver()).hasContent)
        #expect(AMQPMethod.basicReturn(BasicReturn()).hasContent)
        #expect(AMQPMethod.basicGetOk(BasicGetOk()).hasContent)
        #expect(!AMQPMethod.basicGetEmpty(BasicGetEmpty()).hasContent)
        #expect(!AMQPMethod.basicAck(BasicAck()).hasContent)
        #expect(AMQPMethod.hasContent(classID: 60, methodID: 40))
        #expect(!AMQPMethod.hasContent(classID: 60, methodID: 80))
        #expect(AMQPMethod.connectionUpdateSecret(ConnectionUpdateSecret()).classID == 10)
        #expect(AMQPMethod.connectionUpdateSecret(ConnectionUpdateSecret()).methodID == 70)
        #expect(AMQPMethod.connectionBlocked(ConnectionBlocked(reason: "low")).methodID == 60)
        #expect(AMQPMethod.exchangeUnbindOk(ExchangeUnbindOk()).methodID == 51)
        #expect(AMQPMethod.queueDeclare(QueueDeclare()).isSynchronous)
        #expect(!AMQPMethod.basicAck(BasicAck()).isSynchronous)
    }

    @Test("defaults allow partial initialisation")
    func defaults() {
        let qos = BasicQos(prefetchCount: 10)
        #expect(qos.prefetchSize == 0 && qos.prefetchCount == 10 && !qos.global)
        #expect(QueueDeclare().arguments.isEmpty)
    }

    @Test("queue.declare encodes its bits low bit first, as the spec and RabbitMQ do")
    func queueDeclareFixture() throws {
        let declare = AMQPMethod.queueDeclare(QueueDeclare(queue: "q", durable: true, autoDelete: true, noWait: false))
        var buffer = ByteBuffer()
        declare.encode(into: &buffer)
        // class 50, method 10, reserved-1 short, "q", bits: passive(1) durable(2) exclusive(4)
        // auto-delete(8) no-wait(16), empty table.
        #expect(buffer.hexString == "0032000a" + "0000" + "0171" + "0a" + "00000000")
        #expect(try AMQPMethod.decode(from: &buffer) == declare)
    }

    @Test("basic.nack packs multiple and requeue into one octet")
    func nackFixture() throws {
        var buffer = ByteBuffer(hex: "003c0078" + "0000000000000005" + "03")
        #expect(try AMQPMethod.decode(from: &buffer) == .basicNack(BasicNack(deliveryTag: 5, multiple: true, requeue: true)))
    }

    @Test("an unknown class or method is 540 not-implemented")
    func unknownMethod() {
        var buffer = ByteBuffer(hex: "003c00ff")
        let error = wireError { () throws(AMQPWireError) in try AMQPMethod.decode(from: &buffer) }
        #expect(error?.code == .notImplemented)
        #expect(error?.classID == 60 && error?.methodID == 255)
        var other = ByteBuffer(hex: "00630001")
        #expect(wireError { () throws(AMQPWireError) in try AMQPMethod.decode(from: &other) }?.code == .notImplemented)
    }

    @Test("every truncation of every method's arguments is a 502, never a crash")
    func truncatedArguments() {
        for method in MethodSamples.all {
            var full = ByteBuffer()
            method.encode(into: &full)
            for length in 0..<full.readableBytes {
                var prefix = full.getSlice(at: 0, length: length)!
                let error = wireError { () throws(AMQPWireError) in try AMQPMethod.decode(from: &prefix) }
                #expect(error != nil, "\(method.name) prefix \(length)")
                #expect(error?.code == (length < 4 ? .frameError : .syntaxError), "\(method.name) prefix \(length)")
            }
        }
    }

    @Test("trailing bytes after the arguments are a 502")
    func trailingBytes() {
        var buffer = ByteBuffer()
        AMQPMethod.basicAck(BasicAck(deliveryTag: 1)).encode(into: &buffer)
        buffer.writeInteger(UInt8(0))
        let error = wireError { () throws(AMQPWireError) in try AMQPMethod.decode(from: &buffer) }
        #expect(error?.code == .syntaxError)
        #expect(error?.classID == 60 && error?.methodID == 80)
    }

    @Test("garbage arguments throw or decode, never crash")
    func garbage() {
        var generator = SeededGenerator.forTest("MethodCodecTests.garbage")
        for method in MethodSamples.all {
            for _ in 0..<20 {
                var buffer = ByteBuffer()
                buffer.writeMultipleIntegers(method.classID, method.methodID)
                let count = Int.random(in: 0..<64, using: &generator)
                for _ in 0..<count { buffer.writeInteger(UInt8.random(in: 0...255, using: &generator)) }
                _ = wireError { () throws(AMQPWireError) in try AMQPMethod.decode(from: &buffer) }
            }
        }
    }

    @Test("a long short string is cut to 255 bytes on a character boundary")
    func longShortString() throws {
        var buffer = ByteBuffer()
        buffer.writeShortString(String(repeating: "a", count: 254) + "é" + "b")
        #expect(buffer.readableBytes == 1 + 254)
        #expect(try buffer.readShortString() == String(repeating: "a", count: 254))
    }
}
