import BrokerModel
import LinkWire
import Testing
@testable import PartitionEngine

@Suite("cancel, channel close, connection gone")
struct LifecycleTests {
    @Test func cancelKeepsUnackedAndAnswersUnknownTags() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b"])
        h.consume(prefetch: 1)
        #expect(sent(h.apply(.cancel(req(9), channel: ch1, consumerTag: "ctag")))
                == [Sent(.connection(c1), .cancelOk(req(9), consumerTag: "ctag"))])
        #expect(h.summary("q")?.unacked == 1)
        #expect(h.summary("q")?.consumers == 0)
        #expect(sent(h.apply(.cancel(req(10), channel: ch1, consumerTag: "nope")))
                == [Sent(.connection(c1), .cancelOk(req(10), consumerTag: "nope"))])
        // The cancelled consumer's delivery can still be settled.
        h.settle(1, .requeue)
        #expect(h.summary("q")?.ready == 2)
    }

    @Test func autoDeleteOnLastCancel() {
        var h = EngineHarness()
        h.declare("q", autoDelete: true)
        h.consume(tag: "A")
        h.consume(tag: "B")
        #expect(sent(h.apply(.cancel(req(9), channel: ch1, consumerTag: "A")))
                == [Sent(.connection(c1), .cancelOk(req(9), consumerTag: "A"))])
        #expect(sent(h.apply(.cancel(req(10), channel: ch1, consumerTag: "B"))) == [
            Sent(.connection(c1), .cancelOk(req(10), consumerTag: "B")),
            Sent(.router, .queueGone(qid("q"))),
        ])
        #expect(h.engine.queueCount == 0)
    }

    @Test func autoDeleteQueueWithoutConsumersStays() {
        var h = EngineHarness()
        h.declare("q", autoDelete: true)
        h.publish(["a"])
        h.apply(.closeChannel(channel: ch1))
        h.gone(c1)
        #expect(h.summary("q")?.ready == 1)
    }

    @Test func closeChannelRequeuesUnackedRedeliveredToOthers() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c"])
        h.consume(tag: "A", prefetch: 2)
        h.consume(tag: "B", from: c2, prefetch: 1)  // gets c
        let events = h.apply(.closeChannel(channel: ch1))
        #expect(sent(events).isEmpty)  // B is full
        #expect(h.summary("q")?.ready == 2)
        #expect(deliveries(h.settle(1, from: c2)) == [d(2, "a", redelivered: true, consumer: "B", connection: c2)])
        // A reopened channel starts its tags at 1 again.
        h.publish(["d"])
        #expect(deliveries(h.consume(tag: "A2", prefetch: 5)) == [d(1, "b", redelivered: true, consumer: "A2"), d(2, "d", consumer: "A2")])
    }

    @Test func closeChannelAutoDeletesAndDoesNotTouchOtherChannels() {
        var h = EngineHarness()
        h.declare("q", autoDelete: true)
        h.declare("r")
        h.publish(["x"], to: ["r"])
        h.consume("q", tag: "A", channel: ch1)
        h.consume("r", tag: "B", channel: ch2, prefetch: 1)
        #expect(sent(h.apply(.closeChannel(channel: ch1))) == [Sent(.router, .queueGone(qid("q")))])
        #expect(h.summary("r")?.unacked == 1)
        #expect(h.engine.queueCount == 1)
    }

    @Test func connectionGoneRequeuesDeletesExclusiveAndDispatches() {
        var h = EngineHarness()
        h.declare("q")
        h.declare("ex", exclusive: true)
        h.publish(["e1"], to: ["ex"])
        h.publish(["a", "b"])
        h.consume(tag: "A", prefetch: 0)
        h.consume("ex", tag: "E", channel: ch2)
        h.consume(tag: "B", from: c2, prefetch: 0)
        let events = h.gone(c1)
        #expect(sent(events) == [
            Sent(.router, .queueGone(qid("ex"))),
            Sent(.connection(c2), .deliver(DeliveryEvent(channel: ch1, consumerTag: "B", tag: PartitionDeliveryTag(1), redelivered: true, message: message("a")))),
            Sent(.connection(c2), .deliver(DeliveryEvent(channel: ch1, consumerTag: "B", tag: PartitionDeliveryTag(2), redelivered: true, message: message("b")))),
        ])
        #expect(h.engine.queueCount == 1)
        #expect(h.gone(c1).isEmpty)
    }

    @Test func exclusiveAutoDeleteQueueIsGoneOnce() {
        var h = EngineHarness()
        h.declare("ex", exclusive: true, autoDelete: true)
        h.consume("ex")
        #expect(sent(h.gone(c1)) == [Sent(.router, .queueGone(qid("ex")))])
    }

    @Test func exclusiveQueueDeletedByOwnerIsNoLongerOwned() {
        var h = EngineHarness()
        h.declare("ex", exclusive: true)
        h.apply(.deleteQueue(req(5), channel: ch1, queue: qid("ex"), ifUnused: false, ifEmpty: false))
        h.declare("ex", from: c2, exclusive: true)
        #expect(h.gone(c1).isEmpty)
        #expect(h.engine.queueCount == 1)
        #expect(sent(h.gone(c2)) == [Sent(.router, .queueGone(qid("ex")))])
    }
}
