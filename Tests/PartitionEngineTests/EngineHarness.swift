// A channel-free driver for PartitionEngine: each call applies one request and returns
// exactly the events it produced.
import BrokerModel
import BrokerTelemetry
import LinkWire
import NIOCore
@testable import PartitionEngine

let vhost = VHost.default
let c1 = ConnectionID(1)
let c2 = ConnectionID(2)
let ch1 = ChannelNumber(1)
let ch2 = ChannelNumber(2)

func qid(_ name: String) -> QueueID { QueueID(vhost: vhost, name: QueueName(name)) }
func req(_ n: UInt32) -> LinkRequestID { LinkRequestID(n) }

func message(_ body: String) -> LinkMessage {
    LinkMessage(exchange: "", routingKey: "q", properties: ByteBuffer(), body: ByteBuffer(string: body))
}

func bodyText(_ message: LinkMessage) -> String {
    String(buffer: message.body)
}

struct EngineHarness {
    var engine = PartitionEngine(partition: PartitionID(0))
    var output = EngineOutput()
    var nextID: UInt32 = 1
    /// The time every call is applied at (milliseconds); tests move it.
    var now: UInt64 = 0

    @discardableResult
    mutating func apply(_ request: LinkRequest, from connection: ConnectionID = c1) -> [(EngineRecipient, WorkerEvent)] {
        output.removeAll()
        engine.apply(request, from: connection, now: now, into: &output)
        return output.events
    }

    @discardableResult
    mutating func gone(_ connection: ConnectionID) -> [(EngineRecipient, WorkerEvent)] {
        output.removeAll()
        engine.connectionGone(connection, now: now, into: &output)
        return output.events
    }

    mutating func id() -> LinkRequestID {
        defer { nextID += 1 }
        return LinkRequestID(nextID)
    }

    @discardableResult
    mutating func declare(_ name: String, from connection: ConnectionID = c1, passive: Bool = false, durable: Bool = false,
                          exclusive: Bool = false, autoDelete: Bool = false,
                          arguments: ByteBuffer = ByteBuffer()) -> [WorkerEvent] {
        apply(.declareQueue(id(), QueueDeclareRequest(channel: ch1, queue: qid(name), passive: passive, durable: durable,
                                                      exclusive: exclusive, autoDelete: autoDelete, arguments: arguments)),
              from: connection).map(\.1)
    }

    @discardableResult
    mutating func publish(_ bodies: [String], to queues: [String] = ["q"], from connection: ConnectionID = c1,
                          channel: ChannelNumber = ch1, confirm: UInt64 = 0) -> [(EngineRecipient, WorkerEvent)] {
        var all: [(EngineRecipient, WorkerEvent)] = []
        for body in bodies {
            all += apply(.publish(PublishRequest(channel: channel, confirmSequence: confirm, vhost: vhost,
                                                 queues: queues.map(QueueName.init), message: message(body))),
                         from: connection)
        }
        return all
    }

    @discardableResult
    mutating func consume(_ queue: String = "q", tag: String = "ctag", from connection: ConnectionID = c1,
                          channel: ChannelNumber = ch1, noAck: Bool = false, exclusive: Bool = false,
                          prefetch: UInt16 = 0) -> [(EngineRecipient, WorkerEvent)] {
        apply(.consume(id(), ConsumeRequest(channel: channel, queue: qid(queue), consumerTag: tag, noAck: noAck,
                                            exclusive: exclusive, prefetchCount: prefetch)), from: connection)
    }

    @discardableResult
    mutating func settle(_ tag: UInt64, multiple: Bool = false, _ outcome: SettleOutcome = .ack,
                         from connection: ConnectionID = c1, channel: ChannelNumber = ch1) -> [(EngineRecipient, WorkerEvent)] {
        apply(.settle(channel: channel, tag: PartitionDeliveryTag(tag), multiple: multiple, outcome: outcome), from: connection)
    }

    func summary(_ name: String) -> WorkerStats.Queue? {
        engine.queueSummaries().first { $0.name == name }
    }
}

/// A delivery flattened for comparison.
struct Delivered: Equatable, CustomStringConvertible {
    var connection: ConnectionID
    var channel: UInt16
    var consumerTag: String
    var tag: UInt64
    var redelivered: Bool
    var body: String
    var description: String { "\(connection)/\(channel)/\(consumerTag)#\(tag)\(redelivered ? "R" : "")=\(body)" }
}

func deliveries(_ events: [(EngineRecipient, WorkerEvent)]) -> [Delivered] {
    events.compactMap { recipient, event in
        guard case .connection(let connection) = recipient, case .deliver(let d) = event else { return nil }
        return Delivered(connection: connection, channel: d.channel.value, consumerTag: d.consumerTag, tag: d.tag.value,
                         redelivered: d.redelivered, body: bodyText(d.message))
    }
}

func d(_ tag: UInt64, _ body: String, redelivered: Bool = false, consumer: String = "ctag",
       connection: ConnectionID = c1, channel: UInt16 = 1) -> Delivered {
    Delivered(connection: connection, channel: channel, consumerTag: consumer, tag: tag, redelivered: redelivered, body: body)
}

func isDelivery(_ event: (EngineRecipient, WorkerEvent)) -> Bool {
    if case .deliver = event.1 { return true }
    return false
}

func nonDeliveries(_ events: [(EngineRecipient, WorkerEvent)]) -> [(EngineRecipient, WorkerEvent)] {
    events.filter { !isDelivery($0) }
}

/// One produced event with its recipient, comparable.
struct Sent: Equatable {
    var to: EngineRecipient
    var event: WorkerEvent
    init(_ to: EngineRecipient, _ event: WorkerEvent) {
        self.to = to
        self.event = event
    }
}

func sent(_ events: [(EngineRecipient, WorkerEvent)]) -> [Sent] {
    events.map { Sent($0.0, $0.1) }
}
