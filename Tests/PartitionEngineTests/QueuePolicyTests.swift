// Message TTL, length limits and dead-lettering with time injected: no sleeping.
import BrokerModel
import LinkWire
import NIOCore
import Testing
@testable import PartitionEngine

/// An AMQP field table (with its length prefix) of integer and string arguments.
func arguments(_ entries: [(String, Any)]) -> ByteBuffer {
    var body = ByteBuffer()
    for (key, value) in entries {
        body.writeInteger(UInt8(key.utf8.count))
        body.writeString(key)
        if let flag = value as? Bool {
            body.writeInteger(UInt8(ascii: "t"))
            body.writeInteger(UInt8(flag ? 1 : 0))
        } else if let number = value as? Int {
            body.writeInteger(UInt8(ascii: "l"))
            body.writeInteger(Int64(number))
        } else if let text = value as? String {
            body.writeInteger(UInt8(ascii: "S"))
            body.writeInteger(UInt32(text.utf8.count))
            body.writeString(text)
        }
    }
    var table = ByteBuffer()
    table.writeInteger(UInt32(body.readableBytes))
    table.writeBuffer(&body)
    return table
}

func deadLetters(_ events: [(EngineRecipient, WorkerEvent)]) -> [(String, DeadLetterReason)] {
    events.compactMap { recipient, event in
        guard recipient == .anyRouterLink, case .deadLetter(let dead) = event else { return nil }
        return (bodyText(dead.message), dead.reason)
    }
}

@Suite("Queue policies: TTL, length limits, dead-lettering")
struct QueuePolicyTests {
    @Test("messages expire at the head after the queue's TTL and go to the dead-letter exchange")
    func ttlExpiry() {
        var h = EngineHarness()
        h.now = 1_000
        h.declare("q", arguments: arguments([("x-message-ttl", 100), ("x-dead-letter-exchange", "dlx")]))
        h.publish(["a", "b"])
        h.now = 1_050
        h.output.removeAll()
        h.engine.tick(now: h.now, into: &h.output)
        #expect(deadLetters(h.output.events).isEmpty)
        h.now = 1_101
        h.output.removeAll()
        h.engine.tick(now: h.now, into: &h.output)
        let dead = deadLetters(h.output.events)
        #expect(dead.map(\.0) == ["a", "b"])
        #expect(dead.allSatisfy { $0.1 == .expired })
        #expect(h.summary("q")?.ready == 0)
    }

    @Test("a per-message expiration shorter than the queue TTL wins")
    func perMessageExpiration() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-message-ttl", 10_000)]))
        h.apply(.publish(PublishRequest(channel: ch1, confirmSequence: 0, vhost: vhost, queues: [QueueName("q")],
                                        message: message("fast"), expiration: 5)))
        h.now = 6
        h.output.removeAll()
        h.engine.tick(now: h.now, into: &h.output)
        #expect(h.summary("q")?.ready == 0)
    }

    @Test("drop-head overflow dead-letters the oldest with reason maxlen")
    func dropHead() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-max-length", 2), ("x-dead-letter-exchange", "")]))
        let events = h.publish(["1", "2", "3", "4"])
        #expect(deadLetters(events).map(\.0) == ["1", "2"])
        #expect(deadLetters(events).allSatisfy { $0.1 == .maxlen })
        #expect(h.summary("q")?.ready == 2)
    }

    @Test("reject-publish refuses the message and nacks a confirming publisher")
    func rejectPublish() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-max-length", 1), ("x-overflow", "reject-publish")]))
        #expect(h.publish(["1"], confirm: 1).map(\.1) == [.accepted(channel: ch1, confirmSequence: 1)])
        #expect(h.publish(["2"], confirm: 2).map(\.1) == [.rejected(channel: ch1, confirmSequence: 2)])
        #expect(h.summary("q")?.ready == 1)
    }

    @Test("a discarded delivery is dead-lettered as rejected; without a DLX it is dropped")
    func rejectedDeadLetter() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-dead-letter-exchange", "dlx")]))
        h.publish(["m"])
        h.consume()
        #expect(deadLetters(h.settle(1, .discard)).map(\.1) == [.rejected])
        var plain = EngineHarness()
        plain.declare("q")
        plain.publish(["m"])
        plain.consume()
        #expect(deadLetters(plain.settle(1, .discard)).isEmpty)
    }

    @Test("an unused queue deletes itself after x-expires; a consumer keeps it alive")
    func queueExpiry() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-expires", 100)]))
        h.consume()
        h.now = 500
        h.output.removeAll()
        h.engine.tick(now: h.now, into: &h.output)
        #expect(h.engine.queueCount == 1)
        h.apply(.cancel(h.id(), channel: ch1, consumerTag: "ctag"))
        h.now = 599
        h.engine.tick(now: h.now, into: &h.output)
        #expect(h.engine.queueCount == 1)
        h.now = 601
        h.output.removeAll()
        h.engine.tick(now: h.now, into: &h.output)
        #expect(h.engine.queueCount == 0)
        #expect(h.output.events.map(\.1) == [.queueGone(qid("q"))])
    }

    @Test("invalid argument values are 406")
    func invalidArguments() {
        var h = EngineHarness()
        let events = h.declare("q", arguments: arguments([("x-message-ttl", -1)]))
        guard case .failed(_, let code, let text)? = events.first else {
            Issue.record("expected a failure, got \(events)")
            return
        }
        #expect(code == 406)
        #expect(text == "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}")
    }
}
