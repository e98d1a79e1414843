import NIOCore
@testable import AMQPWire

extension ByteBuffer {
    init(hex: String) {
        var bytes: [UInt8] = []
        var chars = Array(hex.utf8).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
        if chars.count % 2 == 1 { chars.append(UInt8(ascii: "0")) }
        var i = 0
        while i < chars.count {
            bytes.append(UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16)!)
            i += 2
        }
        self.init(bytes: bytes)
    }

    var hexString: String {
        readableBytesView.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// Runs `body` and returns the AMQPWireError it throws, or nil.
func wireError<T>(_ body: () throws(AMQPWireError) -> T) -> AMQPWireError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

func encodeFrames(_ frames: [Frame]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for frame in frames { FrameEncoder.encode(frame, into: &buffer) }
    return buffer
}

/// Decodes every frame in `buffer` fed in chunks of `chunk` bytes.
func decodeFrames(_ buffer: ByteBuffer, chunk: Int, maxFrameSize: UInt32 = 131_072) throws(AMQPWireError) -> [Frame] {
    var decoder = FrameDecoder(maxFrameSize: maxFrameSize)
    var frames: [Frame] = []
    var input = buffer
    while input.readableBytes > 0 {
        decoder.append(input.readSlice(length: min(chunk, input.readableBytes))!)
        while let frame = try decoder.nextFrame() { frames.append(frame) }
    }
    return frames
}
