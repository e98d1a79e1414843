import AMQPWire
import NIOCore
import Testing
@testable import BrokerPerf

@Suite struct PerfStampTests {
    @Test func roundTripsThroughABody() {
        var body = ByteBuffer(repeating: 0, count: 12)
        PerfStamp(sentNanos: 123_456_789_000, producer: 7, sequence: 65_535).write(into: &body, at: 0)
        #expect(PerfStamp(body: body) == PerfStamp(sentNanos: 123_456_789_000, producer: 7, sequence: 65_535))
    }

    @Test func shortBodiesHaveNoStamp() {
        #expect(PerfStamp(body: ByteBuffer(repeating: 1, count: 11)) == nil)
    }

    @Test func latencyIsWholeMicroseconds() {
        let stamp = PerfStamp(sentNanos: 1_000_000, producer: 0, sequence: 0)
        #expect(stamp.latencyMicros(receivedNanos: 1_210_999) == 210)
        #expect(stamp.latencyMicros(receivedNanos: 999_000) == 0)
    }
}

@Suite struct PublishTemplateTests {
    /// Decodes what the template appended, as the broker would.
    private func decode(_ buffer: ByteBuffer, frameMax: UInt32) throws -> [Command] {
        var decoder = FrameDecoder(maxFrameSize: frameMax)
        decoder.append(buffer)
        var assembler = CommandAssembler()
        var commands: [Command] = []
        while let frame = try decoder.nextFrame() {
            if let command = try assembler.process(frame) { commands.append(command) }
        }
        return commands
    }

    @Test func appendsStampedPublishes() throws {
        let template = PublishTemplate(exchange: "", routingKey: "perf-q-0", size: 12, persistent: true,
                                       producer: 3, frameMax: 131_072)
        var buffer = ByteBuffer()
        template.append(into: &buffer, nanos: 42, sequence: 1)
        template.append(into: &buffer, nanos: 43, sequence: 2)
        let commands = try decode(buffer, frameMax: 131_072)
        #expect(commands.count == 2)
        guard case .content(1, .basicPublish(let publish), let header, let body) = commands[1] else {
            Issue.record("not a publish: \(commands[1])")
            return
        }
        #expect(publish.routingKey == "perf-q-0")
        #expect(header.bodySize == 12)
        #expect(try header.decodeProperties().deliveryMode == 2)
        #expect(PerfStamp(body: body) == PerfStamp(sentNanos: 43, producer: 3, sequence: 2))
    }

    @Test func splitsLargeBodiesAndStampsTheFirstFrame() throws {
        let template = PublishTemplate(exchange: "perf-x", routingKey: "", size: 10_000, persistent: false,
                                       producer: 1, frameMax: 4096)
        var buffer = ByteBuffer()
        template.append(into: &buffer, nanos: 99, sequence: 5)
        let commands = try decode(buffer, frameMax: 4096)
        guard case .content(_, _, _, let body) = commands.first else {
            Issue.record("no content")
            return
        }
        #expect(body.readableBytes == 10_000)
        #expect(PerfStamp(body: body) == PerfStamp(sentNanos: 99, producer: 1, sequence: 5))
    }
}

@Suite struct DeliveryTrackerTests {
    @Test func completesASingleFrameDelivery() throws {
        var tracker = DeliveryTracker()
        var body = ByteBuffer(repeating: 0, count: 20)
        PerfStamp(sentNanos: 5, producer: 0, sequence: 9).write(into: &body, at: 0)
        try tracker.contentMethod(tag: 17)
        let r1 = try tracker.header(bodySize: 20)
        #expect(r1 == nil)
        let delivery = try tracker.body(body)
        #expect(delivery == DeliveryTracker.Delivery(tag: 17, stamp: PerfStamp(sentNanos: 5, producer: 0, sequence: 9)))
    }

    @Test func readsTheStampOnlyFromTheFirstOfSeveralFrames() throws {
        var tracker = DeliveryTracker()
        var first = ByteBuffer(repeating: 0, count: 12)
        PerfStamp(sentNanos: 1, producer: 2, sequence: 3).write(into: &first, at: 0)
        try tracker.contentMethod(tag: 1)
        _ = try tracker.header(bodySize: 24)
        let r2 = try tracker.body(first)
        #expect(r2 == nil)
        let delivery = try tracker.body(ByteBuffer(repeating: 0xFF, count: 12))
        #expect(delivery?.stamp == PerfStamp(sentNanos: 1, producer: 2, sequence: 3))
    }

    @Test func skipsReturnedContentAndEmptyBodies() throws {
        var tracker = DeliveryTracker()
        try tracker.contentMethod(tag: nil)
        _ = try tracker.header(bodySize: 12)
        let r3 = try tracker.body(ByteBuffer(repeating: 0, count: 12))
        #expect(r3 == nil)
        try tracker.contentMethod(tag: 2)
        let r4 = try tracker.header(bodySize: 0)
        #expect(r4 == DeliveryTracker.Delivery(tag: 2, stamp: nil))
    }

    @Test func rejectsFramesOutOfSequence() {
        var tracker = DeliveryTracker()
        #expect(throws: DeliveryTracker.UnexpectedFrame.self) { try tracker.body(ByteBuffer()) }
    }
}

@Suite struct SequenceTrackerTests {
    @Test func gapsAreFineBackwardsAndRepeatsAreNot() {
        var tracker = SequenceTracker(producers: 2)
        let m1 = tracker.observe(producer: 0, sequence: 10)
        #expect(m1)
        let m2 = tracker.observe(producer: 0, sequence: 15)
        #expect(m2)
        let m3 = tracker.observe(producer: 1, sequence: 3)
        #expect(m3)
        let m4 = tracker.observe(producer: 0, sequence: 12)
        #expect(!m4)
        let m5 = tracker.observe(producer: 0, sequence: 12)
        #expect(!m5)
        #expect(tracker.outOfOrder == 2)
    }

    @Test func wrapsAroundSixteenBits() {
        var tracker = SequenceTracker(producers: 1)
        let m6 = tracker.observe(producer: 0, sequence: 65_535)
        #expect(m6)
        let m7 = tracker.observe(producer: 0, sequence: 0)
        #expect(m7)
        let m8 = tracker.observe(producer: 5, sequence: 0) // unknown producer: ignored
        #expect(m8)
        #expect(tracker.outOfOrder == 0)
    }
}

@Suite struct AckBatcherTests {
    @Test func acksEveryNWithMultiple() {
        var batcher = AckBatcher(every: 3)
        let m8 = batcher.delivered(tag: 1)
        #expect(m8 == nil)
        let m9 = batcher.delivered(tag: 2)
        #expect(m9 == nil)
        let m10 = batcher.delivered(tag: 3)
        #expect(m10 == BasicAck(deliveryTag: 3, multiple: true))
        let m11 = batcher.delivered(tag: 4)
        #expect(m11 == nil)
    }

    @Test func everyOneAcksEachAlone() {
        var batcher = AckBatcher(every: 1)
        let m12 = batcher.delivered(tag: 1)
        #expect(m12 == BasicAck(deliveryTag: 1, multiple: false))
        let m13 = batcher.delivered(tag: 2)
        #expect(m13 == BasicAck(deliveryTag: 2, multiple: false))
    }
}
