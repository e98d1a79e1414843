import BrokerModel
import BrokerTelemetry
import LinkWire
import NIOCore
import Testing
@testable import PartitionEngine

@Suite("queue.declare")
struct DeclareTests {
    @Test func declareCreatesThenRedeclareReportsCounts() {
        var h = EngineHarness()
        #expect(h.declare("q", durable: true) == [.queueDeclared(req(1), queue: QueueName("q"), messageCount: 0, consumerCount: 0)])
        h.publish(["a", "b"])
        h.consume(prefetch: 1)
        #expect(h.declare("q", durable: true) == [.queueDeclared(req(3), queue: QueueName("q"), messageCount: 1, consumerCount: 1)])
        #expect(h.engine.queueCount == 1)
    }

    @Test func passiveOnMissingQueueIsNotFound() {
        var h = EngineHarness()
        #expect(h.declare("q", passive: true) == [.failed(req(1), code: 404, text: "NOT_FOUND - no queue 'q' in vhost '/'")])
        #expect(h.engine.queueCount == 0)
    }

    @Test func passiveIgnoresFlags() {
        var h = EngineHarness()
        h.declare("q", durable: true, autoDelete: true)
        #expect(h.declare("q", passive: true) == [.queueDeclared(req(2), queue: QueueName("q"), messageCount: 0, consumerCount: 0)])
    }

    @Test func inequivalentDurable() {
        var h = EngineHarness()
        h.declare("q")
        #expect(h.declare("q", durable: true) == [.failed(req(2), code: 406,
            text: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'")])
    }

    @Test func inequivalentAutoDelete() {
        var h = EngineHarness()
        h.declare("q", autoDelete: true)
        #expect(h.declare("q") == [.failed(req(2), code: 406,
            text: "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'q' in vhost '/': received 'false' but current is 'true'")])
    }

    @Test func inequivalentArguments() {
        var h = EngineHarness()
        var ttl = ByteBuffer()
        ttl.writeInteger(UInt32(19))  // table length prefix
        ttl.writeInteger(UInt8(13)); ttl.writeString("x-message-ttl"); ttl.writeInteger(UInt8(ascii: "I")); ttl.writeInteger(Int32(2000))
        h.declare("q", arguments: ttl)
        #expect(h.declare("q") == [.failed(req(2), code: 406,
            text: "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received none but current is '2000'")])
        // The same value as a long is equivalent, as in RabbitMQ.
        var long = ByteBuffer()
        long.writeInteger(UInt32(23))
        long.writeInteger(UInt8(13)); long.writeString("x-message-ttl"); long.writeInteger(UInt8(ascii: "l")); long.writeInteger(Int64(2000))
        #expect(h.declare("q", arguments: long) == [.queueDeclared(req(3), queue: QueueName("q"), messageCount: 0, consumerCount: 0)])
        // Keys RabbitMQ does not check are ignored.
        var other = ttl
        other.setInteger(UInt32(19 + 6), at: 0)
        other.writeInteger(UInt8(3)); other.writeString("foo"); other.writeInteger(UInt8(ascii: "t")); other.writeInteger(UInt8(1))
        #expect(h.declare("q", arguments: other) == [.queueDeclared(req(4), queue: QueueName("q"), messageCount: 0, consumerCount: 0)])
    }

    @Test func exclusiveQueueIsLockedForOtherConnections() {
        var h = EngineHarness()
        h.declare("q", exclusive: true)
        let locked = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration."
        #expect(h.declare("q", from: c2, exclusive: true) == [.failed(req(2), code: 405, text: locked)])
        #expect(h.declare("q", from: c2, passive: true) == [.failed(req(3), code: 405, text: locked)])
        #expect(sent(h.consume(from: c2)) == [Sent(.connection(c2), .failed(req(4), code: 405, text: locked))])
        #expect(sent(h.apply(.get(req(9), channel: ch1, queue: qid("q"), noAck: true), from: c2))
                == [Sent(.connection(c2), .failed(req(9), code: 405, text: locked))])
        #expect(sent(h.apply(.purgeQueue(req(10), channel: ch1, queue: qid("q")), from: c2))
                == [Sent(.connection(c2), .failed(req(10), code: 405, text: locked))])
        #expect(sent(h.apply(.deleteQueue(req(11), channel: ch1, queue: qid("q"), ifUnused: false, ifEmpty: false), from: c2))
                == [Sent(.connection(c2), .failed(req(11), code: 405, text: locked))])
        // The owner may use it, and redeclare it exclusive, but not as non-exclusive.
        #expect(h.declare("q", exclusive: true) == [.queueDeclared(req(5), queue: QueueName("q"), messageCount: 0, consumerCount: 0)])
        #expect(h.declare("q", passive: true) == [.queueDeclared(req(6), queue: QueueName("q"), messageCount: 0, consumerCount: 0)])
        #expect(h.declare("q") == [.failed(req(7), code: 405, text: locked)])
    }

    @Test func publishingToAnotherConnectionsExclusiveQueueIsAllowed() {
        var h = EngineHarness()
        h.declare("q", exclusive: true)
        h.publish(["a"], from: c2)
        #expect(h.summary("q")?.ready == 1)
    }

    @Test func summariesAreSortedAndCount() {
        var h = EngineHarness()
        h.declare("b", durable: true)
        h.declare("a", exclusive: true, autoDelete: true)
        h.publish(["1", "2", "3"], to: ["b"])
        h.consume("b", prefetch: 1)
        #expect(h.engine.queueSummaries() == [
            WorkerStats.Queue(vhost: "/", name: "a", durable: false, exclusive: true, autoDelete: true, ready: 0, unacked: 0, consumers: 0),
            WorkerStats.Queue(vhost: "/", name: "b", durable: true, exclusive: false, autoDelete: false, ready: 2, unacked: 1, consumers: 1),
        ])
    }
}
