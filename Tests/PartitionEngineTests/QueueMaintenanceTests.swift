import BrokerModel
import LinkWire
import Testing
@testable import PartitionEngine

@Suite("basic.get, queue.purge, queue.delete")
struct QueueMaintenanceTests {
    @Test func getReturnsMessagesWithRemainingCountThenEmpty() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b"])
        #expect(sent(h.apply(.get(req(10), channel: ch1, queue: qid("q"), noAck: false)))
                == [Sent(.connection(c1), .getOk(req(10), tag: PartitionDeliveryTag(1), redelivered: false, messageCount: 1, message: message("a")))])
        #expect(sent(h.apply(.get(req(11), channel: ch1, queue: qid("q"), noAck: true)))
                == [Sent(.connection(c1), .getOk(req(11), tag: PartitionDeliveryTag(2), redelivered: false, messageCount: 0, message: message("b")))])
        #expect(sent(h.apply(.get(req(12), channel: ch1, queue: qid("q"), noAck: false))) == [Sent(.connection(c1), .getEmpty(req(12)))])
        #expect(h.summary("q")?.unacked == 1)
        // Requeue the unacked get: it comes back redelivered.
        h.settle(1, .requeue)
        #expect(sent(h.apply(.get(req(13), channel: ch1, queue: qid("q"), noAck: true)))
                == [Sent(.connection(c1), .getOk(req(13), tag: PartitionDeliveryTag(3), redelivered: true, messageCount: 0, message: message("a")))])
        #expect(sent(h.apply(.get(req(14), channel: ch1, queue: qid("nope"), noAck: true)))
                == [Sent(.connection(c1), .failed(req(14), code: 404, text: "NOT_FOUND - no queue 'nope' in vhost '/'"))])
    }

    @Test func purgeDropsReadyButNotUnacked() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c"])
        h.consume(prefetch: 1)
        #expect(sent(h.apply(.purgeQueue(req(20), channel: ch1, queue: qid("q"))))
                == [Sent(.connection(c1), .queuePurged(req(20), messageCount: 2))])
        #expect(h.summary("q")?.unacked == 1)
        #expect(h.settle(1).isEmpty)
        #expect(sent(h.apply(.purgeQueue(req(21), channel: ch1, queue: qid("x"))))
                == [Sent(.connection(c1), .failed(req(21), code: 404, text: "NOT_FOUND - no queue 'x' in vhost '/'"))])
    }

    @Test func deleteMissingQueueIsIdempotent() {
        var h = EngineHarness()
        #expect(sent(h.apply(.deleteQueue(req(1), channel: ch1, queue: qid("q"), ifUnused: true, ifEmpty: true)))
                == [Sent(.connection(c1), .queueDeleted(req(1), messageCount: 0))])
    }

    @Test func deleteIfUnusedAndIfEmpty() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b"])
        h.consume(prefetch: 1)
        #expect(sent(h.apply(.deleteQueue(req(30), channel: ch1, queue: qid("q"), ifUnused: true, ifEmpty: false)))
                == [Sent(.connection(c1), .failed(req(30), code: 406, text: "PRECONDITION_FAILED - queue 'q' in vhost '/' in use"))])
        #expect(sent(h.apply(.deleteQueue(req(31), channel: ch1, queue: qid("q"), ifUnused: false, ifEmpty: true)))
                == [Sent(.connection(c1), .failed(req(31), code: 406, text: "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty"))])
        #expect(h.engine.queueCount == 1)
    }

    @Test func deleteCancelsEveryConsumerAndForgetsMessages() {
        var h = EngineHarness()
        h.declare("q")
        h.publish(["a", "b", "c"])
        h.consume(tag: "A", prefetch: 1)
        h.consume(tag: "B", from: c2, prefetch: 1)
        let events = h.apply(.deleteQueue(req(40), channel: ch2, queue: qid("q"), ifUnused: false, ifEmpty: false))
        #expect(sent(events) == [
            Sent(.connection(c1), .consumerCancelled(channel: ch1, consumerTag: "A")),
            Sent(.connection(c2), .consumerCancelled(channel: ch1, consumerTag: "B")),
            Sent(.connection(c1), .queueDeleted(req(40), messageCount: 1)),
        ])
        #expect(h.engine.queueCount == 0)
        // Late settlements of its deliveries are harmless, even after a new queue of that name.
        h.declare("q")
        #expect(h.settle(1, .requeue).isEmpty)
        #expect(h.settle(1, multiple: true, .requeue, from: c2).isEmpty)
        #expect(h.summary("q")?.ready == 0)
        #expect(h.summary("q")?.unacked == 0)
        // The cancelled consumer tags are free again on their channels.
        #expect(sent(h.consume(tag: "A")).first == Sent(.connection(c1), .consumeOk(req(5), consumerTag: "A")))
    }
}
