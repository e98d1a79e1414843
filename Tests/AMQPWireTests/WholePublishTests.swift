import NIOCore
import Testing
@testable import AMQPWire

@Suite("FrameDecoder.nextWholePublish")
struct WholePublishTests {
    static func publishBytes(body: String, frameMax: UInt32 = 4096) -> ByteBuffer {
        var bytes = ByteBuffer()
        FrameEncoder.encodeContent(
            channel: 3, method: .basicPublish(BasicPublish(exchange: "x", routingKey: "k", mandatory: true)),
            header: ContentHeader(bodySize: UInt64(body.utf8.count), properties: BasicProperties(contentType: "text/plain")),
            body: ByteBuffer(string: body), frameMax: frameMax, into: &bytes)
        return bytes
    }

    /// The first command frame by frame, or the error that stops it.
    static func frameByFrame(_ bytes: ByteBuffer) -> Result<Command?, AMQPWireError> {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(bytes)
        var assembler = CommandAssembler(maxBodySize: 1 << 16)
        do throws(AMQPWireError) {
            while let frame = try decoder.nextFrame() {
                if let command = try assembler.process(frame) { return .success(command) }
            }
            return .success(nil)
        } catch {
            return .failure(error)
        }
    }

    static func check(_ bytes: ByteBuffer) {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(bytes)
        if let command = decoder.nextWholePublish(maxBodySize: 1 << 16) {
            #expect(Result<Command?, AMQPWireError>.success(command) == frameByFrame(bytes), "\(Array(bytes.readableBytesView))")
        } else {
            #expect(decoder.bufferedBytes == bytes.readableBytes, "consumed bytes it did not decode")
        }
    }

    @Test("a publish with a one-frame body, or none, is taken whole and equals the frame-by-frame command",
          arguments: ["hello", ""])
    func takesWholePublish(body: String) throws {
        let bytes = Self.publishBytes(body: body)
        var decoder = FrameDecoder(maxFrameSize: 4096)
        decoder.append(bytes)
        let taken = decoder.nextWholePublish(maxBodySize: 1 << 16)
        let command = try #require(taken)
        #expect(Result<Command?, AMQPWireError>.success(command) == Self.frameByFrame(bytes))
        #expect(decoder.bufferedBytes == 0)
    }

    @Test("truncated, mutated or multi-frame publishes are left to frame by frame, untouched")
    func leavesEverythingElse() {
        let bytes = Self.publishBytes(body: "hello")
        for length in 0..<bytes.readableBytes {
            Self.check(bytes.getSlice(at: 0, length: length)!)
        }
        for index in 0..<bytes.readableBytes {
            for value: UInt8 in [0x00, 0x01, 0x02, 0x03, 0x3C, 0xCE, 0xFF] {
                var mutated = bytes
                mutated.setInteger(value, at: index)
                Self.check(mutated)
            }
        }
        Self.check(Self.publishBytes(body: String(repeating: "b", count: 5000)))
    }
}
