import Testing
@testable import BrokerPerf

@Suite struct PerfConfigTests {
    private func config(_ edit: (inout PerfOptions) -> Void = { _ in }) throws -> PerfConfig {
        var options = PerfOptions()
        edit(&options)
        return try PerfConfig(validating: options)
    }

    private func message(_ edit: (inout PerfOptions) -> Void) -> String? {
        do {
            _ = try config(edit)
            return nil
        } catch let error as PerfConfigError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func defaultsMatchTheHelp() throws {
        let c = try config()
        #expect(c.uri == AMQPURI(host: "127.0.0.1", port: 5672, user: "guest", password: "guest", vhost: "/"))
        #expect(c.producers == 1 && c.consumers == 1 && c.queues == 1)
        #expect(c.exchange == .default)
        #expect(c.size == 12)
        #expect(c.ackMode == .auto)
        #expect(c.stop == .duration(10))
        #expect(c.timeout == 40)
        #expect(c.confirm == 0 && c.rate == 0 && !c.persistent && !c.json)
    }

    @Test func hostAndPortOverrideTheURI() throws {
        let c = try config { $0.uri = "amqp://a:b@example:1234/v"; $0.host = "10.0.0.1"; $0.port = 5690 }
        #expect(c.uri == AMQPURI(host: "10.0.0.1", port: 5690, user: "a", password: "b", vhost: "v"))
    }

    @Test func multiAckEverySelectsManualAcks() throws {
        let c = try config { $0.multiAckEvery = 10; $0.prefetch = 100 }
        #expect(c.ackMode == .every(10))
        #expect(c.prefetch == 100)
    }

    @Test func refusesMeaninglessCombinations() {
        #expect(message { $0.size = 11 }?.contains("at least 12") == true)
        #expect(message { $0.autoack = true; $0.multiAckEvery = 5 }?.contains("exclude") == true)
        #expect(message { $0.multiAckEvery = 200; $0.prefetch = 100 }?.contains("stall") == true)
        #expect(message { $0.multiAckEvery = 0 } != nil)
        #expect(message { $0.exchangeType = "headers" }?.contains("direct, fanout or topic") == true)
        #expect(message { $0.producers = 0; $0.consumers = 0 } != nil)
        #expect(message { $0.producers = 0; $0.count = 10 } != nil)
        #expect(message { $0.queues = 0 } != nil)
        #expect(message { $0.rate = -1 } != nil)
        #expect(message { $0.confirm = -1 } != nil)
        #expect(message { $0.prefetch = 70_000 } != nil)
        #expect(message { $0.duration = 0 } != nil)
        #expect(message { $0.uri = "amqps://host" }?.contains("TLS") == true)
        #expect(message { $0.port = 0 } != nil)
    }

    @Test func countModeGetsALongerTimeout() throws {
        #expect(try config { $0.count = 1000 }.stop == .count(1000))
        #expect(try config { $0.count = 1000 }.timeout == 300)
        #expect(try config { $0.count = 1000; $0.duration = 5 }.timeout == 35)
        #expect(try config { $0.duration = 3; $0.timeout = 7 }.timeout == 7)
    }

    @Test func spreadsProducersAndConsumersRoundRobin() throws {
        let c = try config { $0.producers = 5; $0.consumers = 3; $0.queues = 2 }
        #expect((0..<5).map(c.queue(ofProducer:)) == [0, 1, 0, 1, 0])
        #expect((0..<3).map(c.queue(ofConsumer:)) == [0, 1, 0])
    }

    @Test func publishTargetsFollowTheExchangeType() throws {
        #expect(try config().publishTarget(ofProducer: 0) == ("", "perf-q-0"))
        let direct = try config { $0.exchangeType = "direct"; $0.queues = 2; $0.producers = 2 }
        #expect(direct.publishTarget(ofProducer: 1) == ("perf-x", "perf-q-1"))
        #expect(direct.bindingKey(ofQueue: 1) == "perf-q-1")
        let topic = try config { $0.exchangeType = "topic" }
        #expect(topic.publishTarget(ofProducer: 0) == ("perf-x", "perf-q-0.m"))
        #expect(topic.bindingKey(ofQueue: 0) == "perf-q-0.*")
        let fanout = try config { $0.exchangeType = "fanout" }
        #expect(fanout.publishTarget(ofProducer: 0) == ("perf-x", ""))
        #expect(fanout.bindingKey(ofQueue: 3) == "")
        #expect(try config().bindingKey(ofQueue: 0) == nil)
    }

    @Test func countIsSharedWithTheRemainderFirst() throws {
        let c = try config { $0.producers = 3; $0.count = 10 }
        #expect((0..<3).map { c.share(ofProducer: $0) } == [4, 3, 3])
        #expect(try config().share(ofProducer: 0) == nil)
    }

    @Test func expectedDeliveriesCountQueuesWithConsumers() throws {
        // 2 producers on queues 0 and 1; the only consumer is on queue 0.
        let direct = try config { $0.producers = 2; $0.consumers = 1; $0.queues = 2 }
        #expect(direct.expectedDeliveries(sent: [10, 20]) == 10)
        // Fanout: every message reaches the 3 consumed queues.
        let fanout = try config { $0.producers = 2; $0.consumers = 3; $0.queues = 4; $0.exchangeType = "fanout" }
        #expect(fanout.expectedDeliveries(sent: [10, 20]) == 90)
    }
}

@Suite struct AMQPURITests {
    @Test func parsesEveryPart() throws {
        #expect(try AMQPURI(parsing: "amqp://u%40x:p%3Aw@broker.local:5673/my%2Fvhost")
            == AMQPURI(host: "broker.local", port: 5673, user: "u@x", password: "p:w", vhost: "my/vhost"))
    }

    @Test func defaultsToGuestOnLocalhostAndTheDefaultVhost() throws {
        #expect(try AMQPURI(parsing: "amqp://") == AMQPURI())
        #expect(try AMQPURI(parsing: "amqp://h/") == AMQPURI(host: "h"))
        #expect(try AMQPURI(parsing: "amqp://h:1/%2F").vhost == "/")
    }

    @Test func acceptsIPv6Literals() throws {
        let uri = try AMQPURI(parsing: "amqp://[::1]:5690/")
        #expect(uri.host == "::1")
        #expect(uri.port == 5690)
    }

    @Test func refusesBadInput() {
        #expect(throws: PerfConfigError.self) { try AMQPURI(parsing: "http://h") }
        #expect(throws: PerfConfigError.self) { try AMQPURI(parsing: "amqp://h:99999/") }
        #expect(throws: PerfConfigError.self) { try AMQPURI(parsing: "amqp://h:x/") }
        #expect(throws: PerfConfigError.self) { try AMQPURI(parsing: "amqp://u%G1@h/") }
    }
}
