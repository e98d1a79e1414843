// Entry points for the fuzzer (Sources/BrokerFuzz): the record decoder as recovery runs it.
import LinkWire
import NIOCore

public enum StoreFuzzing {
    /// Decodes `payload` as one record's payload, with its frame and checksum made right so
    /// that mutations reach the decoder rather than stop at the checksum; true for a record.
    public static func decodeRecordPayload(_ payload: ByteBuffer) -> Bool {
        var framed = ByteBuffer()
        framed.writeInteger(UInt32(payload.readableBytes))
        framed.writeInteger(RecordCodec.checksum(payload))
        var body = payload
        framed.writeBuffer(&body)
        if case .record = RecordCodec.next(in: framed) { return true }
        return false
    }

    /// Reads records from `bytes` as recovery reads a segment: until the end or the first
    /// torn or corrupt one. Returns how many were read.
    public static func decodeRecords(_ bytes: ByteBuffer) -> Int {
        var buffer = bytes
        var count = 0
        while buffer.readableBytes > 0, case .record(_, let size) = RecordCodec.next(in: buffer) {
            buffer.moveReaderIndex(forwardBy: size)
            count += 1
        }
        return count
    }

    /// A valid record of each kind, for the fuzzer's seed corpus.
    public static func sampleRecords() -> [ByteBuffer] {
        var samples: [ByteBuffer] = []
        var message = ByteBuffer()
        RecordCodec.writeMessage(into: &message, queue: 1, sequence: 7, expiresAtWall: 0, flags: [.persistent],
                                 message: LinkMessage(exchange: "amq.direct", routingKey: "key",
                                                      properties: ByteBuffer(bytes: [0x80, 0x00, 2]), body: ByteBuffer(string: "hello")))
        samples.append(message)
        var marker = ByteBuffer()
        RecordCodec.writeMarker(into: &marker, .delivered, queue: 1, sequence: 7)
        samples.append(marker)
        var range = ByteBuffer()
        RecordCodec.writeRange(into: &range, queue: 1, first: 1, last: 9)
        samples.append(range)
        return samples
    }
}
