// Priority queues, single active consumer, consumer priorities, the consumer timeout, a
// channel's share of a global prefetch, and delayed messages, with time injected.
import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import Testing
@testable import PartitionEngine

/// A message whose properties carry only `priority`.
func prioritized(_ body: String, _ priority: UInt8?) -> LinkMessage {
    var properties = ByteBuffer()
    BasicProperties(priority: priority).encode(into: &properties)
    return LinkMessage(exchange: "", routingKey: "q", properties: properties, body: ByteBuffer(string: body))
}

extension EngineHarness {
    mutating func publish(_ message: LinkMessage, to queue: String = "q") {
        apply(.publish(PublishRequest(channel: ch1, confirmSequence: 0, vhost: vhost, queues: [QueueName(queue)], message: message)))
    }

    @discardableResult
    mutating func consume(_ queue: String = "q", tag: String, channel: ChannelNumber = ch1, prefetch: UInt16 = 0,
                          priority: Int32) -> [(EngineRecipient, WorkerEvent)] {
        apply(.consume(id(), ConsumeRequest(channel: channel, queue: qid(queue), consumerTag: tag, noAck: false,
                                            exclusive: false, prefetchCount: prefetch, priority: priority)))
    }

    mutating func get(_ queue: String = "q") -> String? {
        for (_, event) in apply(.get(id(), channel: ch1, queue: qid(queue), noAck: true)) {
            if case .getOk(_, _, _, _, let message) = event { return bodyText(message) }
        }
        return nil
    }

    mutating func tick(at now: UInt64) -> [(EngineRecipient, WorkerEvent)] {
        self.now = now
        output.removeAll()
        engine.tick(now: now, into: &output)
        return output.events
    }
}

@Suite("Consumer features")
struct ConsumerFeatureTests {
    @Test("a priority queue serves the highest priority first, FIFO within one, capped at x-max-priority")
    func priorities() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-max-priority", 5)]))
        for (body, priority) in [("none", nil), ("p1", 1), ("p9", 9), ("p5", 5), ("p1b", 1)] as [(String, UInt8?)] {
            h.publish(prioritized(body, priority))
        }
        #expect((0..<5).map { _ in h.get() } == ["p9", "p5", "p1", "p1b", "none"])
    }

    @Test("a requeued message goes back to its place within its priority")
    func priorityRequeue() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-max-priority", 5)]))
        h.publish(prioritized("a", 3))
        h.publish(prioritized("b", 3))
        h.publish(prioritized("low", 0))
        h.consume(prefetch: 1)
        h.settle(1, .requeue)
        let again = deliveries(h.settle(2, .ack))
        #expect(again.map(\.body) == ["b"])
    }

    @Test("x-max-priority outside 0…255 is a 406")
    func maxPriorityValidation() {
        var h = EngineHarness()
        let events = h.declare("q", arguments: arguments([("x-max-priority", 300)]))
        guard case .failed(_, let code, _)? = events.first else { Issue.record("no failure"); return }
        #expect(code == 406)
    }

    @Test("only the first consumer of a single-active-consumer queue gets messages; the next takes over")
    func singleActiveConsumer() {
        var h = EngineHarness()
        h.declare("q", arguments: arguments([("x-single-active-consumer", true)]))
        h.consume(tag: "first", channel: ch1, priority: 0)
        h.consume(tag: "second", channel: ch2, priority: 0)
        let first = deliveries(h.publish(["a", "b"]))
        #expect(first.map(\.consumerTag) == ["first", "first"])
        let takeover = deliveries(h.apply(.closeChannel(channel: ch1)))
        #expect(takeover.map(\.consumerTag) == ["second", "second"])
        #expect(takeover.allSatisfy { $0.redelivered })
    }

    @Test("messages go to the highest-priority consumer with room, round-robin among equals")
    func consumerPriorities() {
        var h = EngineHarness()
        h.declare("q")
        h.consume(tag: "low", channel: ch1, prefetch: 10, priority: 1)
        h.consume(tag: "high-a", channel: ch2, prefetch: 1, priority: 10)
        h.consume(tag: "high-b", channel: ChannelNumber(3), prefetch: 1, priority: 10)
        let got = deliveries(h.publish(["1", "2", "3", "4"]))
        #expect(got.map(\.consumerTag) == ["high-a", "high-b", "low", "low"])
    }

    @Test("a delivery unacked past the queue's x-consumer-timeout is reported once")
    func consumerTimeout() {
        var h = EngineHarness()
        h.now = 1_000
        h.declare("q", arguments: arguments([("x-consumer-timeout", 500)]))
        h.consume()
        h.publish(["a"])
        #expect(h.tick(at: 1_400).isEmpty)
        let late = sent(h.tick(at: 1_600))
        #expect(late == [Sent(.connection(c1), .channelTimedOut(channel: ch1, timeout: 500))])
        #expect(h.tick(at: 2_000).isEmpty)
    }

    @Test("a channel's share bounds its unacked deliveries; it asks once, and reports a lowered share when it holds")
    func channelShare() {
        var h = EngineHarness()
        h.declare("q")
        #expect(sent(h.apply(.setChannelLimit(channel: ch1, limit: 2))) == [Sent(.connection(c1), .channelShareUsage(channel: ch1, limit: 2, unacked: 0))])
        h.consume()
        let events = h.publish(["a", "b", "c", "d"])
        #expect(deliveries(events).map(\.body) == ["a", "b"])
        #expect(nonDeliveries(events).map(\.1) == [.creditWanted(channel: ch1)])
        // A new share answers the request; still short, the channel asks again.
        #expect(sent(h.apply(.setChannelLimit(channel: ch1, limit: 1))) == [
            Sent(.connection(c1), .channelShareUsage(channel: ch1, limit: 1, unacked: 2)),
            Sent(.connection(c1), .creditWanted(channel: ch1))])
        #expect(sent(h.settle(1)) == [Sent(.connection(c1), .channelShareUsage(channel: ch1, limit: 1, unacked: 1))])
        #expect(deliveries(h.settle(2)).map(\.body) == ["c"])
    }

    @Test("delayed messages come back to the router when due, earliest first, and are confirmed at once")
    func delayed() {
        var h = EngineHarness()
        h.now = 10_000
        let confirm = h.apply(.delay(DelayRequest(channel: ch1, confirmSequence: 7, vhost: vhost, delay: 300, message: message("late"))))
        #expect(sent(confirm) == [Sent(.connection(c1), .accepted(channel: ch1, confirmSequence: 7))])
        h.apply(.delay(DelayRequest(channel: ch1, confirmSequence: 0, vhost: vhost, delay: 100, message: message("early"))))
        #expect(h.tick(at: 10_050).isEmpty)
        func due(_ events: [(EngineRecipient, WorkerEvent)]) -> [String] {
            events.compactMap { recipient, event in
                guard recipient == .anyRouterLink, case .delayedDue(_, let m) = event else { return nil }
                return bodyText(m)
            }
        }
        #expect(due(h.tick(at: 10_100)) == ["early"])
        #expect(due(h.tick(at: 10_400)) == ["late"])
        #expect(h.engine.delayedCount == 0)
    }
}
