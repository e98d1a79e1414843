// What the fuzzer feeds: bytes from the network (AMQP frames, commands and field tables, and
// definitions documents posted to the management API), from the link (what workers and the
// router send each other) and from disk (store records).
// Each target must return for every input without crashing, hanging or growing without bound;
// errors thrown are the expected outcome for most inputs.
import AMQPWire
import BrokerTelemetry
import Definitions
import LinkWire
import MessageStore
import NIOCore

enum FuzzTarget: String, CaseIterable {
    /// The router's read path: frames, whole publishes and the command assembler.
    case frames
    /// A field table (arguments, headers) on its own.
    case fieldTable = "field-table"
    /// The link, both ways: router → worker requests and worker → router events.
    case link
    /// Store records: one payload with a good checksum, and a run as recovery reads it.
    case store
    /// A definitions document (POST /api/definitions, `broker ctl import_definitions`): JSON,
    /// then users with their password hashes, permission patterns, exchanges, queues, bindings.
    case definitions

    func run(_ bytes: UnsafeRawBufferPointer) {
        let buffer = ByteBuffer(bytes: bytes)
        switch self {
        case .frames: Self.frames(buffer)
        case .fieldTable:
            var table = buffer
            _ = try? FieldTable(from: &table)
        case .link: Self.link(buffer)
        case .store:
            _ = StoreFuzzing.decodeRecordPayload(buffer)
            _ = StoreFuzzing.decodeRecords(buffer)
        case .definitions:
            guard let document = try? JSON.parse(buffer.readableBytesView) else { return }
            _ = try? Definitions(parsing: document)
            _ = try? Definitions(parsing: document, defaultVHost: "v")
        }
    }

    /// As `AMQPConnectionHandler.channelRead` does, with a small frame_max so that limits
    /// are reached; fed in two pieces so that frames split between reads are covered.
    private static func frames(_ buffer: ByteBuffer) {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var assembler = CommandAssembler(maxBodySize: 1 << 20)
        let half = buffer.readableBytes / 2
        for piece in [buffer.getSlice(at: buffer.readerIndex, length: half)!,
                      buffer.getSlice(at: buffer.readerIndex + half, length: buffer.readableBytes - half)!] {
            decoder.append(piece)
            do {
                while true {
                    if assembler.isIdle, decoder.nextWholePublish(maxBodySize: assembler.maxBodySize) != nil { continue }
                    guard let frame = try decoder.nextFrame() else { break }
                    _ = try assembler.process(frame)
                }
            } catch {
                return  // the connection would be closed with the error's code
            }
        }
    }

    /// What a worker decodes (requests) and what the router decodes (a connection's events
    /// and the control stream's).
    private static func link(_ buffer: ByteBuffer) {
        decodeAll(LinkRequest.self, buffer)
        decodeAll(ConnectionEvent.self, buffer)
        decodeAll(ControlEvent.self, buffer)
    }

    private static func decodeAll<Message: LinkDecodable>(_: Message.Type, _ buffer: ByteBuffer) {
        let decoder = LinkMessageDecoder<Message>(maxMessageSize: 1 << 20)
        decoder.append(buffer)
        while (try? decoder.next()) ?? nil != nil {}
    }
}
