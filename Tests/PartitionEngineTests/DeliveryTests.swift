import BrokerModel
import BrokerTelemetry
import LinkWire
import Testing
@testable import PartitionEngine

@Suite("publish, consume, settle")
struct DeliveryTests {
    @Test func publishThenConsumeDeliversInOrderAfterConsumeOk() {
        var h = EngineHarness()
        h.declare("q")
        #expect(h.publish(["a", "b", "c"]).isEmpty)
        let events = h.consume()
        #expect(sent(events).first == Sent(.connection(c1), .consumeOk(req(2), consumerTag: "ctag")))
        #expect(deliveries(events) == [d(1, "a"), d(2, "b"), d(3, "c")])
        #expect(h.summary("q")?.unacked == 3)
        #expect(h.summary("q")?.ready == 0)
    }

    @Test func consumeOnMissingQueueIsNotFound() {
        var h = EngineHarness()
        #expect(sent(h.consume()) == [Sent(.connection(c1), .failed(req(1), code: 404, text: "NOT_FOUND - no queue 'q' in vhost '/'"))])
    }

    @Test func exclusiveConsumerRules() {
        var h = EngineHarness()
        h.declare("q")
        h.consume(tag: "x", exclusive: true)
        let refused = WorkerEvent.failed(req(3), code: 403, text: "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use")
        #expect(sent(h.consume(tag: "y", from: c2)) == [Sent(.connection(c2), refused)])
        var h2 = EngineHarness()
        h2.declare("q")
        h2.consume(tag: "x")
        #expect(sent(h2.consume(tag: "y", from: c2, exclusive: true)) == [Sent(.connection(c2), refused)])
    }

    @Test func prefetchTwoDeliversTwoThenOnePerAck() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c", "d"])
        #expect(deliveries(h.consume(prefetch: 2)) == [d(1, "a"), d(2, "b")])
        #expect(deliveries(h.settle(1)) == [d(3, "c")])
        #expect(deliveries(h.settle(2)) == [d(4, "d")])
        #expect(h.settle(3).isEmpty)
        #expect(deliveries(h.publish(["e", "f"])) == [d(5, "e")])
    }

    @Test func multipleAckSettlesEveryTagUpTo() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c", "d"])
        h.consume(prefetch: 3)
        #expect(deliveries(h.settle(2, multiple: true)) == [d(4, "d")])
        #expect(h.summary("q")?.unacked == 2)
        h.settle(4, multiple: true)
        #expect(h.summary("q")?.unacked == 0)
        // Settling again is harmless: unknown tags are ignored.
        #expect(h.settle(4, multiple: true).isEmpty)
        #expect(h.settle(1).isEmpty)
    }

    @Test func nackRequeueReturnsToOriginalPositionRedelivered() {
        var h2 = EngineHarness()
        h2.declare("q")
        h2.publish(["a", "b", "c", "d"])
        #expect(deliveries(h2.consume(prefetch: 2)) == [d(1, "a"), d(2, "b")])
        // Requeue b: it goes back ahead of c and d, and is delivered next, redelivered.
        #expect(deliveries(h2.settle(2, .requeue)) == [d(3, "b", redelivered: true)])
        #expect(deliveries(h2.settle(1)) == [d(4, "c")])
        #expect(deliveries(h2.settle(3)) == [d(5, "d")])
    }

    @Test func requeueWithoutCapacityKeepsOrderInReady() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c", "d", "e"])
        var out = EngineOutput()
        h.engine.apply(.get(req(50), channel: ch1, queue: qid("q"), noAck: false), from: c1, now: h.now, into: &out)  // a, tag 1
        h.engine.apply(.get(req(51), channel: ch1, queue: qid("q"), noAck: false), from: c1, now: h.now, into: &out)  // b, tag 2
        h.engine.apply(.get(req(52), channel: ch1, queue: qid("q"), noAck: false), from: c1, now: h.now, into: &out)  // c, tag 3
        h.settle(3, .requeue)
        h.settle(1, .requeue)
        #expect(h.summary("q")?.ready == 4)
        let events = h.consume(noAck: true)
        #expect(deliveries(events) == [d(4, "a", redelivered: true), d(5, "c", redelivered: true), d(6, "d"), d(7, "e")])
        h.settle(2, .requeue)
        #expect(h.summary("q")?.ready == 0)
    }

    @Test func multipleNackRequeuesAllInOrder() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c"])
        h.consume(prefetch: 3)
        #expect(deliveries(h.settle(3, multiple: true, .requeue))
                == [d(4, "a", redelivered: true), d(5, "b", redelivered: true), d(6, "c", redelivered: true)])
    }

    @Test func rejectDiscardDropsTheMessage() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b"])
        h.consume(prefetch: 1)
        #expect(deliveries(h.settle(1, .discard)) == [d(2, "b")])
        h.settle(2, .discard)
        #expect(h.summary("q") == WorkerStats.Queue(vhost: "/", name: "q", durable: false, exclusive: false,
                                                autoDelete: false, ready: 0, unacked: 0, consumers: 1))
    }

    @Test func roundRobinAcrossTwoConsumers() {
        var h = EngineHarness()
        h.declare("q")
        h.consume(tag: "A", from: c1)
        h.consume(tag: "B", from: c2)
        let events = h.publish(["1", "2", "3", "4"])
        #expect(deliveries(events) == [
            d(1, "1", consumer: "A"), d(1, "2", consumer: "B", connection: c2),
            d(2, "3", consumer: "A"), d(2, "4", consumer: "B", connection: c2),
        ])
        #expect(events.allSatisfy { $0.0 == .connection(c1) || $0.0 == .connection(c2) })
        #expect(sent(events)[1].to == .connection(c2))
    }

    @Test func roundRobinSkipsFullConsumers() {
        var h = EngineHarness()
        h.declare("q")
        h.consume(tag: "A", prefetch: 1)
        h.consume(tag: "B", channel: ch2, prefetch: 0)
        #expect(deliveries(h.publish(["1", "2", "3"]))
                == [d(1, "1", consumer: "A"), d(1, "2", consumer: "B", channel: 2), d(2, "3", consumer: "B", channel: 2)])
    }

    @Test func roundRobinContinuesAfterACancel() {
        var h = EngineHarness()
        h.declare("q")
        h.consume(tag: "A", noAck: true)
        h.consume(tag: "B", noAck: true)
        h.consume(tag: "C", noAck: true)
        #expect(deliveries(h.publish(["1"])) == [d(1, "1", consumer: "A")])
        h.apply(.cancel(req(99), channel: ch1, consumerTag: "B"))
        #expect(deliveries(h.publish(["2", "3", "4"])) == [d(2, "2", consumer: "C"), d(3, "3", consumer: "A"), d(4, "4", consumer: "C")])
    }

    @Test func tagsArePerChannelAndCountNoAckAndGets() {
        var h = EngineHarness()
        h.declare("q")
        h.declare("r")
        h.consume("q", tag: "A", channel: ch1, noAck: true)
        h.consume("r", tag: "B", channel: ch2)
        #expect(deliveries(h.publish(["1"], to: ["q"])) == [d(1, "1", consumer: "A")])
        #expect(deliveries(h.publish(["2"], to: ["r"])) == [d(1, "2", consumer: "B", channel: 2)])
        #expect(deliveries(h.publish(["3"], to: ["q", "r"])) == [d(2, "3", consumer: "A"), d(2, "3", consumer: "B", channel: 2)])
        h.publish(["4"], to: ["r"])
        // Same channel, another connection: independent numbering.
        h.declare("s")
        h.publish(["5"], to: ["s"])
        #expect(deliveries(h.consume("s", tag: "C", from: c2, channel: ch1)) == [d(1, "5", consumer: "C", connection: c2)])
    }

    @Test func confirmsAreAcceptedBeforeDeliveries() {
        var h = EngineHarness()
        h.declare("q")
        h.consume(noAck: true)
        let events = h.publish(["a"], confirm: 7)
        #expect(sent(events).first == Sent(.connection(c1), .accepted(channel: ch1, confirmSequence: 7)))
        #expect(deliveries(events) == [d(1, "a")])
        #expect(h.publish(["b"], confirm: 0).count == 1)  // the delivery only
    }

    @Test func confirmIsAcceptedEvenWhenTargetQueuesAreGone() {
        var h = EngineHarness()
        h.declare("q")
        #expect(sent(h.publish(["a"], to: ["gone", "q"], confirm: 1))
                == [Sent(.connection(c1), .accepted(channel: ch1, confirmSequence: 1))])
        #expect(sent(h.publish(["a"], to: ["gone"], confirm: 2))
                == [Sent(.connection(c1), .accepted(channel: ch1, confirmSequence: 2))])
        #expect(h.summary("q")?.ready == 1)
    }

    @Test func recoverRequeuesEverythingUnackedAfterRecoverOk() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b"])
        h.consume(prefetch: 2)
        let events = h.apply(.recover(req(9), channel: ch1, requeue: true))
        #expect(sent(events).first == Sent(.connection(c1), .recoverOk(req(9))))
        #expect(deliveries(events) == [d(3, "a", redelivered: true), d(4, "b", redelivered: true)])
    }
}
