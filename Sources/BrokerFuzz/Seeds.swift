// Valid inputs for each target, written with the broker's own encoders: the fuzzer starts
// from them (`broker-fuzz seed DIR` writes DIR/<target>/seed-N).
import AMQPWire
import BrokerModel
import Foundation
import LinkWire
import MessageStore
import NIOCore

enum Seeds {
    static func inputs(for target: FuzzTarget) -> [ByteBuffer] {
        switch target {
        case .frames: frames()
        case .fieldTable: [table(sampleTable)]
        case .link: link()
        case .store: StoreFuzzing.sampleRecords()
        // RabbitMQ's own exports are the seeds (Tests/Fuzz/corpus/definitions, from the
        // integration tests' fixtures).
        case .definitions: []
        }
    }

    static func write(into directory: String) throws {
        for target in FuzzTarget.allCases {
            let folder = "\(directory)/\(target.rawValue)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (index, input) in inputs(for: target).enumerated() {
                try Data(input.readableBytesView).write(to: URL(fileURLWithPath: "\(folder)/seed-\(index)"))
            }
        }
    }

    static let sampleTable: FieldTable = [
        "x-message-ttl": .int32(60_000), "x-dead-letter-exchange": .longString(Array("dlx".utf8)),
        "nested": .table(["flag": .bool(true), "list": .array([.int64(1), .double(2.5), .void])]),
    ]

    private static func table(_ table: FieldTable) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFieldTable(table)
        return buffer
    }

    private static func frames() -> [ByteBuffer] {
        var handshake = ByteBuffer()
        FrameEncoder.encodeMethod(channel: 0, .connectionTuneOk(ConnectionTuneOk(channelMax: 2047, frameMax: 4096, heartbeat: 60)),
                                  into: &handshake)
        FrameEncoder.encodeMethod(channel: 1, .channelOpen(ChannelOpen()), into: &handshake)
        FrameEncoder.encodeMethod(channel: 1, .queueDeclare(QueueDeclare(queue: "q", durable: true, arguments: sampleTable)),
                                  into: &handshake)
        var publish = ByteBuffer()
        let body = ByteBuffer(repeating: 0x61, count: 5000)
        FrameEncoder.encodeContent(channel: 1, method: .basicPublish(BasicPublish(exchange: "", routingKey: "q")),
                                   header: ContentHeader(bodySize: UInt64(body.readableBytes), properties: BasicProperties()),
                                   body: body, frameMax: 4096, into: &publish)
        FrameEncoder.encode(.heartbeat, into: &publish)
        FrameEncoder.encodeMethod(channel: 1, .basicAck(BasicAck(deliveryTag: 3, multiple: true)), into: &publish)
        return [handshake, publish]
    }

    private static func link() -> [ByteBuffer] {
        let queue = QueueID(vhost: .default, name: QueueName("q"))
        let requests: [LinkRequest] = [
            .declareQueue(LinkRequestID(1), QueueDeclareRequest(channel: ChannelNumber(1), queue: queue, durable: true)),
            .publish(PublishRequest(channel: ChannelNumber(1), confirmSequence: 1, vhost: .default, queues: [QueueName("q")],
                                    message: LinkMessage(exchange: "", routingKey: "q", properties: ByteBuffer(bytes: [0, 0]),
                                                         body: ByteBuffer(string: "body")))),
            .consume(LinkRequestID(2), ConsumeRequest(channel: ChannelNumber(1), queue: queue, consumerTag: "c", noAck: false,
                                                      exclusive: false, prefetchCount: 10)),
            .settle(channel: ChannelNumber(1), tag: PartitionDeliveryTag(1), multiple: true, outcome: .ack),
        ]
        return requests.map { request in
            var buffer = ByteBuffer()
            request.write(into: &buffer)
            return buffer
        }
    }
}
