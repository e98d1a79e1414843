import AMQPWire
import BrokerModel
import LinkWire
import NIOCore
import Testing

@Suite("Link codec")
struct LinkCodecTests {
    static let message = LinkMessage(
        exchange: "amq.topic", routingKey: "a.b.c",
        properties: ByteBuffer(bytes: [0x90, 0x00, 0x0a] + Array("text/plain".utf8)),
        body: ByteBuffer(string: "hello, world"))
    static let queue = QueueID(vhost: VHost("/"), name: QueueName("orders"))

    static let requests: [LinkRequest] = [
        .declareQueue(LinkRequestID(1), QueueDeclareRequest(
            channel: ChannelNumber(3), queue: queue, passive: true, durable: false, exclusive: true,
            autoDelete: true, arguments: ByteBuffer(bytes: [0, 0, 0, 0]))),
        .deleteQueue(LinkRequestID(2), channel: ChannelNumber(1), queue: queue, ifUnused: true, ifEmpty: false),
        .purgeQueue(LinkRequestID(3), channel: ChannelNumber(1), queue: queue),
        .publish(PublishRequest(channel: ChannelNumber(9), confirmSequence: 77, vhost: VHost("v"),
                                queues: [QueueName("a"), QueueName("b")], message: message)),
        .publish(PublishRequest(channel: ChannelNumber(1), confirmSequence: 0, vhost: VHost("/"),
                                queues: [QueueName("a")], message: message, expiration: 1500)),
        .consume(LinkRequestID(4), ConsumeRequest(channel: ChannelNumber(2), queue: queue, consumerTag: "ctag",
                                                   noAck: true, exclusive: false, prefetchCount: 100)),
        .cancel(LinkRequestID(5), channel: ChannelNumber(2), consumerTag: "ctag"),
        .get(LinkRequestID(6), channel: ChannelNumber(2), queue: queue, noAck: false),
        .settle(channel: ChannelNumber(2), tag: PartitionDeliveryTag(12), multiple: true, outcome: .requeue),
        .recover(LinkRequestID(7), channel: ChannelNumber(2), requeue: true),
        .closeChannel(channel: ChannelNumber(65535)),
    ]

    static let getOk = WorkerEvent.getOk(LinkRequestID(6), tag: PartitionDeliveryTag(3), redelivered: true, messageCount: 4, message: message)

    /// What a worker sends on a client connection's stream, and what the router reads.
    static let connectionEvents: [(sent: WorkerEvent, received: ConnectionEvent)] = [
        (.queueDeclared(LinkRequestID(1), queue: QueueName("amq.gen-x"), messageCount: 5, consumerCount: 2),
         .answer(LinkRequestID(1), .queueDeclared(queue: QueueName("amq.gen-x"), messageCount: 5, consumerCount: 2))),
        (.queueDeleted(LinkRequestID(2), messageCount: 9), .answer(LinkRequestID(2), .queueDeleted(messageCount: 9))),
        (.queuePurged(LinkRequestID(3), messageCount: 1), .answer(LinkRequestID(3), .queuePurged(messageCount: 1))),
        (.consumeOk(LinkRequestID(4), consumerTag: "c"), .answer(LinkRequestID(4), .consumeOk(consumerTag: "c"))),
        (.cancelOk(LinkRequestID(5), consumerTag: "c"), .answer(LinkRequestID(5), .cancelOk(consumerTag: "c"))),
        (getOk, .answer(LinkRequestID(6), .getOk(tag: PartitionDeliveryTag(3), redelivered: true, messageCount: 4, message: message))),
        (.getEmpty(LinkRequestID(7)), .answer(LinkRequestID(7), .getEmpty)),
        (.recoverOk(LinkRequestID(8)), .answer(LinkRequestID(8), .recoverOk)),
        (.failed(LinkRequestID(9), code: 404, text: "NOT_FOUND - no queue 'q' in vhost '/'"),
         .answer(LinkRequestID(9), .failed(code: 404, text: "NOT_FOUND - no queue 'q' in vhost '/'"))),
        (.accepted(channel: ChannelNumber(1), confirmSequence: 1 << 40), .accepted(channel: ChannelNumber(1), confirmSequence: 1 << 40)),
        (.rejected(channel: ChannelNumber(1), confirmSequence: 2), .rejected(channel: ChannelNumber(1), confirmSequence: 2)),
        (.consumerCancelled(channel: ChannelNumber(4), consumerTag: "c"), .consumerCancelled(channel: ChannelNumber(4), consumerTag: "c")),
        (.creditWanted(channel: ChannelNumber(2)), .creditWanted(channel: ChannelNumber(2))),
        (.channelShareUsage(channel: ChannelNumber(2), limit: 10, unacked: 3), .channelShareUsage(channel: ChannelNumber(2), limit: 10, unacked: 3)),
        (.channelTimedOut(channel: ChannelNumber(2), timeout: 1_800_000), .channelTimedOut(channel: ChannelNumber(2), timeout: 1_800_000)),
    ]

    /// What a worker sends on its control stream, and what the router reads.
    static let controlEvents: [(sent: WorkerEvent, received: ControlEvent)] = [
        (.queueDeclared(LinkRequestID(1), queue: QueueName("q"), messageCount: 0, consumerCount: 0),
         .answer(LinkRequestID(1), .queueDeclared(queue: QueueName("q"), messageCount: 0, consumerCount: 0))),
        (.queueGone(queue), .queueGone(queue)),
        (.deadLetter(DeadLetterEvent(queue: queue, reason: .expired, deadLetterExchange: "dlx", deadLetterRoutingKey: nil, message: message)),
         .deadLetter(DeadLetterEvent(queue: queue, reason: .expired, deadLetterExchange: "dlx", deadLetterRoutingKey: nil, message: message))),
        (.deadLetter(DeadLetterEvent(queue: queue, reason: .maxlen, deadLetterExchange: "", deadLetterRoutingKey: "retry", message: message)),
         .deadLetter(DeadLetterEvent(queue: queue, reason: .maxlen, deadLetterExchange: "", deadLetterRoutingKey: "retry", message: message))),
        (.delayedDue(vhost: .default, message: message), .delayedDue(vhost: .default, message: message)),
    ]

    static func dripFed<Event: LinkDecodable>(_ sent: [WorkerEvent], as: Event.Type) throws -> [Event] {
        var buffer = ByteBuffer()
        for event in sent { event.write(into: &buffer) }
        let decoder = LinkMessageDecoder<Event>()
        var decoded: [Event] = []
        while let byte = buffer.readSlice(length: 1) {
            decoder.append(byte)
            while let event = try decoder.next() { decoded.append(event) }
        }
        return decoded
    }

    @Test("every request round-trips")
    func requestsRoundTrip() throws {
        var buffer = ByteBuffer()
        for request in Self.requests { request.write(into: &buffer) }
        let decoder = LinkMessageDecoder<LinkRequest>()
        decoder.append(buffer)
        var decoded: [LinkRequest] = []
        while let request = try decoder.next() { decoded.append(request) }
        #expect(decoded == Self.requests)
    }

    @Test("every event a worker sends arrives as the router's event of its stream, drip-fed byte by byte")
    func eventsArriveDripFed() throws {
        #expect(try Self.dripFed(Self.connectionEvents.map(\.sent), as: ConnectionEvent.self) == Self.connectionEvents.map(\.received))
        #expect(try Self.dripFed(Self.controlEvents.map(\.sent), as: ControlEvent.self) == Self.controlEvents.map(\.received))
    }

    @Test("a stream refuses the kinds of the other stream")
    func kindsStayOnTheirStream() {
        #expect(throws: LinkDecodingError.self) { _ = try Self.dripFed([.queueGone(Self.queue)], as: ConnectionEvent.self) }
        #expect(throws: LinkDecodingError.self) {
            _ = try Self.dripFed([.accepted(channel: ChannelNumber(1), confirmSequence: 1)], as: ControlEvent.self)
        }
    }

    @Test("a delivery crosses the link as AMQP frames; patched, they are what the router would encode",
          arguments: [12, 10_000])
    func deliveryCrossesEncoded(bodySize: Int) throws {
        let body = ByteBuffer(repeating: 0x61, count: bodySize)
        let message = LinkMessage(exchange: "amq.topic", routingKey: "a.b.c", properties: Self.message.properties, body: body)
        var buffer = ByteBuffer()
        WorkerEvent.deliver(DeliveryEvent(channel: ChannelNumber(1), consumerTag: "ctag-1", tag: PartitionDeliveryTag(5),
                                        redelivered: true, noAck: true, message: message)).write(into: &buffer)
        let decoder = LinkMessageDecoder<ConnectionEvent>()
        decoder.append(buffer)
        guard case .delivery(let delivery) = try decoder.next() else {
            Issue.record("expected an encoded delivery")
            return
        }
        #expect(delivery.channel == ChannelNumber(1) && delivery.tag == PartitionDeliveryTag(5) && delivery.noAck)
        let layout = try #require(DeliveryFrames.Layout(delivery.frames))
        var patched = ByteBuffer()
        DeliveryFrames.write(prefix: delivery.frames, layout: layout, channel: 7, deliveryTag: 1 << 33,
                             body: delivery.body, frameMax: 4096, into: &patched)
        var expected = ByteBuffer()
        FrameEncoder.encodeContent(
            channel: 7, method: .basicDeliver(BasicDeliver(consumerTag: "ctag-1", deliveryTag: 1 << 33, redelivered: true,
                                                           exchange: "amq.topic", routingKey: "a.b.c")),
            header: ContentHeader(bodySize: UInt64(bodySize), rawProperties: Self.message.properties),
            body: body, frameMax: 4096, into: &expected)
        #expect(patched == expected)
    }

    @Test("publishes and deliveries, written in one region, match their field-by-field encoding")
    func regionWritesMatchFieldByField() {
        let delivery = WorkerEvent.deliver(DeliveryEvent(
            channel: ChannelNumber(3), consumerTag: "amq.ctag-é", tag: PartitionDeliveryTag(9), redelivered: true,
            noAck: false, message: Self.message))
        var fast = ByteBuffer(), slow = ByteBuffer()
        delivery.write(into: &fast)
        delivery.writeFieldByField(into: &slow)
        #expect(fast == slow)
        for request in Self.requests {
            var fast = ByteBuffer(), slow = ByteBuffer()
            request.write(into: &fast)
            request.writeFieldByField(into: &slow)
            #expect(fast == slow)
        }
    }

    @Test("bytes that are not basic.deliver and a header frame are refused, not patched")
    func malformedDeliveryPrefix() {
        #expect(DeliveryFrames.Layout(ByteBuffer(bytes: [1, 0, 0])) == nil)
        var method = ByteBuffer()
        FrameEncoder.encodeMethod(channel: 0, .basicDeliver(BasicDeliver(consumerTag: "c")), into: &method)
        #expect(DeliveryFrames.Layout(method) == nil)
        var prefix = ByteBuffer()
        DeliveryFrames.encodePrefix(consumerTag: String(repeating: "x", count: 255), redelivered: false, exchange: "",
                                    routingKey: "q", properties: ByteBuffer(bytes: [0, 0]), bodySize: 0, into: &prefix)
        #expect(DeliveryFrames.Layout(prefix) != nil)
        prefix.setInteger(UInt32(20), at: prefix.readerIndex + 3)
        #expect(DeliveryFrames.Layout(prefix) == nil)
    }

    @Test("an unknown kind is an error, not a crash")
    func unknownKind() {
        let decoder = LinkMessageDecoder<ConnectionEvent>()
        decoder.append(ByteBuffer(bytes: [0, 0, 0, 1, 200]))
        #expect(throws: LinkDecodingError.self) { _ = try decoder.next() }
    }

    @Test("a truncated message body is an error, not a crash")
    func truncatedFields() {
        let decoder = LinkMessageDecoder<LinkRequest>()
        decoder.append(ByteBuffer(bytes: [0, 0, 0, 3, 8, 0, 1]))  // settle with no tag
        #expect(throws: LinkDecodingError.self) { _ = try decoder.next() }
    }

    @Test("an absurd length is rejected before buffering it")
    func absurdLength() {
        let decoder = LinkMessageDecoder<LinkRequest>(maxMessageSize: 1024)
        decoder.append(ByteBuffer(bytes: [0xff, 0xff, 0xff, 0xff]))
        #expect(throws: LinkDecodingError.self) { _ = try decoder.next() }
    }
}
