import NIOCore
import Testing
@testable import AMQPWire

@Suite("BasicProperties and ContentHeader")
struct BasicPropertiesTests {
    static let all = BasicProperties(
        contentType: "application/json", contentEncoding: "gzip",
        headers: ["x-match": .longString(Array("all".utf8)), "n": .table(["a": .array([.int32(1)])])],
        deliveryMode: 2, priority: 9, correlationId: "corr", replyTo: "amq.rabbitmq.reply-to",
        expiration: "60000", messageId: "m-1", timestamp: 1_700_000_000, type: "order.created",
        userId: "guest", appId: "app", clusterId: "c1")

    func roundTrip(_ properties: BasicProperties) throws -> BasicProperties {
        var buffer = ByteBuffer()
        properties.encode(into: &buffer)
        let decoded = try BasicProperties(from: &buffer)
        #expect(buffer.readableBytes == 0)
        return decoded
    }

    @Test("all, none and some properties round-trip")
    func roundTrips() throws {
        #expect(try roundTrip(Self.all) == Self.all)
        #expect(Self.all.flags == 0xFFFC)
        #expect(try roundTrip(.none) == .none)
        var none = ByteBuffer()
        BasicProperties.none.encode(into: &none)
        #expect(none.hexString == "0000")
        let some = BasicProperties(headers: [:], deliveryMode: 1, timestamp: 0, clusterId: "")
        #expect(try roundTrip(some) == some)
        for keep in 0..<14 {
            var one = BasicProperties()
            switch keep {
            case 0: one.contentType = "t"
            case 1: one.contentEncoding = "e"
            case 2: one.headers = ["h": .void]
            case 3: one.deliveryMode = 2
            case 4: one.priority = 3
            case 5: one.correlationId = "c"
            case 6: one.replyTo = "r"
            case 7: one.expiration = "1"
            case 8: one.messageId = "m"
            case 9: one.timestamp = 42
            case 10: one.type = "ty"
            case 11: one.userId = "u"
            case 12: one.appId = "a"
            default: one.clusterId = "cl"
            }
            #expect(one.flags == 1 << (15 - keep))
            #expect(try roundTrip(one) == one)
        }
    }

    @Test("pika's encoding of basic properties decodes")
    func pikaFixture() throws {
        var buffer = ByteBuffer(hex: "b0c00a746578742f706c61696e00000023017849000000010361727241000000134900000001530000000161"
            + "4600000003016e5602026d31000000006553f100")
        let p = try BasicProperties(from: &buffer)
        #expect(p.contentType == "text/plain")
        #expect(p.deliveryMode == 2)
        #expect(p.messageId == "m1")
        #expect(p.timestamp == 1_700_000_000)
        #expect(p.headers?["x"] == .int32(1))
        #expect(p.contentEncoding == nil && p.priority == nil && p.userId == nil)
    }

    @Test("a continuation flag word is skipped; one naming unknown properties is a 502")
    func continuation() throws {
        var buffer = ByteBuffer(hex: "8001" + "0000" + "0174")
        #expect(try BasicProperties(from: &buffer) == BasicProperties(contentType: "t"))
        var chained = ByteBuffer(hex: "0001" + "0001" + "0000")
        #expect(try BasicProperties(from: &chained) == .none)
        var unknown = ByteBuffer(hex: "0001" + "8000" + "0174")
        #expect(wireError { () throws(AMQPWireError) in try BasicProperties(from: &unknown) }?.code == .syntaxError)
        var cut = ByteBuffer(hex: "0001")
        #expect(wireError { () throws(AMQPWireError) in try BasicProperties(from: &cut) }?.code == .syntaxError)
    }

    @Test("every truncation of the property list is a 502")
    func truncations() {
        var full = ByteBuffer()
        Self.all.encode(into: &full)
        for length in 0..<full.readableBytes {
            var prefix = full.getSlice(at: 0, length: length)!
            #expect(wireError { () throws(AMQPWireError) in try BasicProperties(from: &prefix) }?.code == .syntaxError)
        }
    }

    @Test("a content header keeps its properties as a slice of the received payload")
    func contentHeader() throws {
        let header = ContentHeader(classID: 60, bodySize: 1234, properties: Self.all)
        #expect(try header.decodeProperties() == Self.all)
        var payload = ByteBuffer()
        header.encodePayload(into: &payload)
        let received = payload
        let decoded = try ContentHeader(payload: &payload)
        #expect(decoded == header)
        #expect(decoded.bodySize == 1234 && decoded.weight == 0 && decoded.classID == 60)
        // Same storage: reading the raw bytes through the original buffer gives the same bytes.
        let same = decoded.rawProperties.withUnsafeReadableBytes { a in
            received.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress! + 12 }
        }
        #expect(same)
        var short = ByteBuffer(hex: "003c0000000000000000000000")
        #expect(wireError { () throws(AMQPWireError) in try ContentHeader(payload: &short) }?.code == .frameError)
    }
}
