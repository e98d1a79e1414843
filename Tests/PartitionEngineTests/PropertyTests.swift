// Randomized replay: a seeded generator drives a few hundred random requests and the engine's
// state is checked after each one.
import BrokerModel
import LinkWire
import NIOCore
import Testing
import TestSupport
@testable import PartitionEngine

/// Tracks where every published message must be, independently of the engine's bookkeeping.
struct ConservationModel {
    var engine = PartitionEngine(partition: PartitionID(0))
    var output = EngineOutput()
    var rng: SeededGenerator
    /// Identities "body@queue" of every copy ever enqueued.
    var published: Set<String> = []
    /// Copies whose fate is final: acked, discarded, delivered noAck, purged, deleted with their queue.
    var finished: Set<String> = []
    /// Publish order per identity, for the ordering check.
    var publishIndex: [String: Int] = [:]
    var delivered: Set<String> = []
    var lastFirstDelivery: [String: Int] = [:]  // queue name → publish index
    var lastTag: [String: UInt64] = [:]        // "conn/ch" → last tag
    var consumers: [(connection: ConnectionID, channel: ChannelNumber, tag: String, queue: String, noAck: Bool)] = []
    var connections = [ConnectionID(1), ConnectionID(2)]
    var nextConnection: UInt64 = 3
    var counter = 0
    let queueNames = ["q1", "q2", "ad"]

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &rng)] }

    mutating func run(steps: Int) {
        for name in queueNames { declare(name) }
        for _ in 0..<steps { step() }
    }

    mutating func declare(_ name: String) {
        let request = LinkRequest.declareQueue(LinkRequestID(0), QueueDeclareRequest(
            channel: ChannelNumber(1), queue: qid(name), autoDelete: name == "ad"))
        apply(request, from: connections[0])
    }

    mutating func step() {
        let connection = pick(connections)
        let channel = ChannelNumber(UInt16.random(in: 1...2, using: &rng))
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<35:
            counter += 1
            var targets = [pick(queueNames)]
            if Bool.random(using: &rng) { targets.append(pick(queueNames + ["missing"])) }
            if targets.count == 2 && targets[0] == targets[1] { targets.removeLast() }
            apply(.publish(PublishRequest(channel: channel, confirmSequence: UInt64(counter), vhost: vhost,
                                          queues: targets.map(QueueName.init), message: message("m\(counter)"))),
                  from: connection)
        case 35..<45:
            counter += 1
            apply(.consume(LinkRequestID(0), ConsumeRequest(
                channel: channel, queue: qid(pick(queueNames)), consumerTag: "c\(counter)",
                noAck: Int.random(in: 0..<5, using: &rng) == 0, exclusive: false,
                prefetchCount: UInt16.random(in: 0...3, using: &rng))), from: connection)
        case 45..<50:
            guard !consumers.isEmpty else { return }
            let consumer = pick(consumers)
            apply(.cancel(LinkRequestID(0), channel: consumer.channel, consumerTag: consumer.tag), from: consumer.connection)
        case 50..<56:
            apply(.get(LinkRequestID(0), channel: channel, queue: qid(pick(queueNames)), noAck: Bool.random(using: &rng)),
                  from: connection)
        case 56..<85:
            let key = "\(connection)/\(channel)"
            let last = lastTag[key] ?? 0
            guard last > 0 else { return }
            let tag = UInt64.random(in: 1...last, using: &rng)
            let outcome = pick([SettleOutcome.ack, .ack, .requeue, .discard])
            apply(.settle(channel: channel, tag: PartitionDeliveryTag(tag), multiple: Bool.random(using: &rng),
                          outcome: outcome), from: connection)
        case 85..<88:
            apply(.recover(LinkRequestID(0), channel: channel, requeue: true), from: connection)
        case 88..<92:
            apply(.closeChannel(channel: channel), from: connection)
        case 92..<94:
            gone(connection)
        case 94..<96:
            apply(.purgeQueue(LinkRequestID(0), channel: channel, queue: qid(pick(queueNames))), from: connection)
        case 96..<98:
            apply(.deleteQueue(LinkRequestID(0), channel: channel, queue: qid(pick(queueNames)),
                               ifUnused: Bool.random(using: &rng), ifEmpty: Bool.random(using: &rng)), from: connection)
        default:
            declare(pick(queueNames))
        }
    }

    // MARK: applying with bookkeeping

    /// Identities located in the engine, per live queue (ready and unacked copies).
    func located() -> [ObjectIdentifier: (queue: EngineQueue, ids: [String])] {
        var result: [ObjectIdentifier: (queue: EngineQueue, ids: [String])] = [:]
        for queue in engine.queues.values {
            result[ObjectIdentifier(queue), default: (queue, [])].ids += queue.ready.inDeliveryOrder.map { "\(bodyText($0.message))@\(queue.id.name)" }
        }
        for state in engine.connections.values {
            for channel in state.channels.values {
                for delivery in channel.unacked where !delivery.queue.isDeleted {
                    result[ObjectIdentifier(delivery.queue), default: (delivery.queue, [])].ids
                        .append("\(bodyText(delivery.message))@\(delivery.queue.id.name)")
                }
            }
        }
        return result
    }

    mutating func apply(_ request: LinkRequest, from connection: ConnectionID) {
        let before = located()
        var settledNow: [String] = []
        switch request {
        case .publish(let publish):
            for name in Set(publish.queues.map(\.name)) where engine.queues[qid(name)] != nil {
                let id = "\(bodyText(publish.message))@\(name)"
                published.insert(id)
                publishIndex[id] = counter
            }
        case .settle(let channel, let tag, let multiple, let outcome) where outcome != .requeue:
            if let ch = engine.connections[connection]?.channels[channel] {
                settledNow = ch.unacked
                    .filter { !$0.queue.isDeleted && (multiple ? $0.tag <= tag.value : $0.tag == tag.value) }
                    .map { "\(bodyText($0.message))@\($0.queue.id.name)" }
            }
        case .purgeQueue(_, _, let queue):
            settledNow = engine.queues[queue].map { q in q.ready.inDeliveryOrder.map { "\(bodyText($0.message))@\(q.id.name)" } } ?? []
        case .closeChannel(let channel):
            lastTag["\(connection)/\(channel)"] = nil
        default:
            break
        }
        output.removeAll()
        engine.apply(request, from: connection, now: 0, into: &output)
        finished.formUnion(settledNow)
        var get: (channel: ChannelNumber, queue: String, noAck: Bool)?
        if case .get(_, let channel, let queue, let noAck) = request { get = (channel, queue.name.name, noAck) }
        observe(output.events, before: before, get: get)
        if case .consume(_, let consume) = request,
           output.events.contains(where: { if case .consumeOk = $0.1 { true } else { false } }) {
            consumers.append((connection, consume.channel, consume.consumerTag, consume.queue.name.name, consume.noAck))
        }
        if case .cancel(_, let channel, let tag) = request {
            consumers.removeAll { $0.connection == connection && $0.channel == channel && $0.tag == tag }
        }
        if case .closeChannel(let channel) = request {
            consumers.removeAll { $0.connection == connection && $0.channel == channel }
        }
        check()
    }

    mutating func gone(_ connection: ConnectionID) {
        let before = located()
        output.removeAll()
        engine.connectionGone(connection, now: 0, into: &output)
        lastTag = lastTag.filter { !$0.key.hasPrefix("\(connection)/") }
        consumers.removeAll { $0.connection == connection }
        observe(output.events, before: before)
        connections = connections.map { $0 == connection ? ConnectionID(nextConnection) : $0 }
        nextConnection += 1
        check()
    }

    mutating func observe(_ events: [(EngineRecipient, WorkerEvent)], before: [ObjectIdentifier: (queue: EngineQueue, ids: [String])],
                          get: (channel: ChannelNumber, queue: String, noAck: Bool)? = nil) {
        // Copies of a queue deleted by this request are gone with it.
        for (_, entry) in before where entry.queue.isDeleted { finished.formUnion(entry.ids) }
        for (recipient, event) in events {
            guard case .connection(let connection) = recipient else { continue }
            switch event {
            case .deliver(let delivery):
                guard let consumer = consumers.first(where: {
                    $0.connection == connection && $0.channel == delivery.channel && $0.tag == delivery.consumerTag
                }) ?? pendingConsumer(delivery, connection) else {
                    Issue.record("delivery to an unknown consumer \(delivery.consumerTag)")
                    continue
                }
                received(connection, delivery.channel, delivery.tag, delivery.redelivered, delivery.message, queue: consumer.queue,
                         noAck: consumer.noAck)
            case .getOk(_, let tag, let redelivered, _, let message):
                guard let get else {
                    Issue.record("get-ok without a get")
                    continue
                }
                received(connection, get.channel, tag, redelivered, message, queue: get.queue, noAck: get.noAck)
            default:
                break
            }
        }
    }

    /// A consumer registered by the request being observed (deliveries follow its consumeOk).
    func pendingConsumer(_ delivery: DeliveryEvent, _ connection: ConnectionID) -> (connection: ConnectionID, channel: ChannelNumber, tag: String, queue: String, noAck: Bool)? {
        guard let channel = engine.connections[connection]?.channels[delivery.channel],
              let consumer = channel.consumer(tag: delivery.consumerTag) else { return nil }
        return (connection, delivery.channel, consumer.tag, consumer.queue.id.name.name, consumer.noAck)
    }

    mutating func received(_ connection: ConnectionID, _ channel: ChannelNumber, _ tag: PartitionDeliveryTag,
                           _ redelivered: Bool, _ message: LinkMessage, queue: String, noAck: Bool) {
        let key = "\(connection)/\(channel)"
        #expect(tag.value == (lastTag[key] ?? 0) + 1, "tags rise by one per channel")
        lastTag[key] = tag.value
        let id = "\(bodyText(message))@\(queue)"
        if redelivered {
            #expect(delivered.contains(id), "redelivered \(id) was delivered before")
        } else {
            #expect(!delivered.contains(id), "first delivery of \(id) happens once")
            let index = publishIndex[id] ?? -1
            #expect(index > lastFirstDelivery[queue, default: 0], "first deliveries of \(queue) follow publish order")
            lastFirstDelivery[queue] = index
        }
        delivered.insert(id)
        if noAck { finished.insert(id) }
    }

    func check() {
        let copies = located().values.flatMap(\.ids)
        let here = Set(copies)
        #expect(copies.count == here.count, "no copy is in two places")
        #expect(here.isDisjoint(with: finished), "a finished copy is not still in the engine")
        #expect(here.union(finished) == published, "no copy is lost")
        for queue in engine.queues.values {
            let sequences = queue.ready.inDeliveryOrder.map(\.sequence)
            #expect(sequences == sequences.sorted(), "ready stays in publish order")
        }
    }
}

@Suite("randomized replay")
struct PropertyTests {
    @Test(arguments: [1, 2, 3, 42, 2024] as [UInt64])
    func conservationAndOrder(seed: UInt64) {
        var model = ConservationModel(seed: seed)
        model.run(steps: 500)
        #expect(model.published.count > 50)
        #expect(model.finished.count > 10)
        #expect(model.delivered.count > 20)
    }
}
