// Micro-benchmarks of the per-message paths, with heap allocations per operation counted by
// interposing malloc (CMallocCounter). Run with one command:
//   swift run -c release -Xswiftc -enforce-exclusivity=unchecked micro-bench
// `--quick` runs fewer iterations (CI); `--check` exits non-zero when a path documented as
// allocation-free (Docs/benchmarks.md) allocates.
import AMQPWire
import BrokerModel
import CMallocCounter
import Foundation
import LinkWire
import Logging
import MessageStore
import NIOCore
import PartitionEngine
import RouterCore

struct Result {
    var name: String
    var nanosecondsPerOp: Double
    var allocationsPerOp: Double
    /// The path is meant to allocate nothing per operation in steady state.
    var allocationFree: Bool
}

let quick = CommandLine.arguments.contains("--quick")
let check = CommandLine.arguments.contains("--check")
let scale = quick ? 10 : 1

/// Runs `body` (which does `batch` operations) until `operations` are done, after a warm-up.
func measure(_ name: String, operations: Int, batch: Int = 1, allocationFree: Bool, _ body: () -> Void) -> Result {
    let rounds = max(1, operations / scale / batch)
    for _ in 0..<max(1, rounds / 10) { body() }  // warm-up: caches, buffer capacities
    let allocationsBefore = broker_allocations()
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<rounds { body() }
    let elapsed = DispatchTime.now().uptimeNanoseconds - start
    let allocations = broker_allocations() - allocationsBefore
    let ops = Double(rounds * batch)
    return Result(name: name, nanosecondsPerOp: Double(elapsed) / ops, allocationsPerOp: Double(allocations) / ops,
                  allocationFree: allocationFree)
}

func properties() -> ByteBuffer {
    ContentHeader(bodySize: 0, properties: BasicProperties(contentType: "application/json", deliveryMode: 2)).rawProperties
}

// MARK: AMQP codec

/// 64 publishes (method + header + 16 B body frames) in one buffer, as one socket read.
func publishes(count: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    let body = ByteBuffer(string: "0123456789abcdef")
    let method = AMQPMethod.basicPublish(BasicPublish(exchange: "", routingKey: "orders"))
    let header = ContentHeader(bodySize: 16, rawProperties: properties())
    for _ in 0..<count {
        FrameEncoder.encodeContent(channel: 1, method: method, header: header, body: body, frameMax: 131_072, into: &buffer)
    }
    return buffer
}

func benchDecode(wholePublish: Bool) -> Result {
    let chunk = publishes(count: 64)
    var decoder = FrameDecoder(maxFrameSize: 131_072)
    var assembler = CommandAssembler()
    var commands = 0
    let name = wholePublish ? "AMQP decode: socket bytes → basic.publish, whole (the router's path)"
        : "AMQP decode: the same, frame by frame through the assembler"
    let result = measure(name, operations: 2_000_000, batch: 64, allocationFree: true) {
        decoder.append(chunk)
        while true {
            if wholePublish, assembler.isIdle, decoder.nextWholePublish(maxBodySize: assembler.maxBodySize) != nil {
                commands &+= 1
                continue
            }
            guard let frame = try! decoder.nextFrame() else { break }
            if try! assembler.process(frame) != nil { commands &+= 1 }
        }
    }
    precondition(commands > 0)
    return result
}

/// What a worker writes to the link per delivery: basic.deliver and its header encoded, the body.
func benchDeliveryEncode() -> Result {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(64 * 200)
    let message = LinkMessage(exchange: "", routingKey: "orders", properties: properties(),
                              body: ByteBuffer(string: "0123456789abcdef"))
    var tag: UInt64 = 0
    return measure("deliver, worker: link event with basic.deliver frames (16 B body)", operations: 2_000_000, batch: 64,
                   allocationFree: true) {
        buffer.clear()
        for _ in 0..<64 {
            tag &+= 1
            WorkerEvent.deliver(DeliveryEvent(channel: ChannelNumber(1), consumerTag: "ctag-1", tag: PartitionDeliveryTag(tag),
                                            redelivered: false, noAck: true, message: message)).write(into: &buffer)
        }
    }
}

/// What the router does per delivery: copy the worker's frames, patch channel and tag, add the body frame.
func benchDeliveryPatch() -> Result {
    var prefix = ByteBuffer()
    DeliveryFrames.encodePrefix(consumerTag: "ctag-1", redelivered: false, exchange: "", routingKey: "orders",
                                properties: properties(), bodySize: 16, into: &prefix)
    let body = ByteBuffer(string: "0123456789abcdef")
    var buffer = ByteBuffer()
    buffer.reserveCapacity(64 * 200)
    var tag: UInt64 = 0
    return measure("deliver, router: copy the frames, patch channel and tag", operations: 2_000_000, batch: 64,
                   allocationFree: true) {
        buffer.clear()
        for _ in 0..<64 {
            tag &+= 1
            guard let layout = DeliveryFrames.Layout(prefix) else { fatalError("malformed prefix") }
            DeliveryFrames.write(prefix: prefix, layout: layout, channel: 1, deliveryTag: tag, body: body,
                                 frameMax: 131_072, into: &buffer)
        }
    }
}

// MARK: Link codec

func benchLink() -> Result {
    let message = LinkMessage(exchange: "", routingKey: "orders", properties: properties(),
                              body: ByteBuffer(string: "0123456789abcdef"))
    let request = LinkRequest.publish(PublishRequest(channel: ChannelNumber(1), confirmSequence: 7, vhost: .default,
                                                     queues: [QueueName("orders")], message: message))
    var buffer = ByteBuffer()
    let decoder = LinkMessageDecoder<LinkRequest>()
    var decoded = 0
    let result = measure("link: publish request encode + decode", operations: 2_000_000, batch: 64,
                         allocationFree: false) {
        buffer.clear()
        for _ in 0..<64 { request.write(into: &buffer) }
        decoder.append(buffer)
        while let _ = try! decoder.next() { decoded &+= 1 }
    }
    precondition(decoded > 0)
    return result
}

// MARK: Routing

func benchTopic() -> Result {
    var trie = TopicMatcher.Trie<Int>()
    for i in 0..<100 { trie.insert(pattern: "region\(i).*.orders.#", value: i) }
    trie.insert(pattern: "region7.eu.orders.#", value: 1_000)
    trie.insert(pattern: "#.audit", value: 1_001)
    var matched = 0
    let result = measure("topic match: 102 bindings, key region7.eu.orders.created", operations: 5_000_000,
                         allocationFree: true) {
        trie.forEachMatch(routingKey: "region7.eu.orders.created") { _ in matched &+= 1 }
    }
    precondition(matched > 0)
    return result
}

// MARK: Delivery tags

func benchTags() -> Result {
    var map = DeliveryTagMap()
    var partitionTags: [UInt64] = [0, 0]
    return measure("delivery tags: 64 deliveries over 2 workers, one multiple ack", operations: 5_000_000, batch: 64,
                   allocationFree: false) {
        var last = ClientDeliveryTag(0)
        for i in 0..<64 {
            let partition = i & 1
            partitionTags[partition] &+= 1
            last = map.nextTag(partition: PartitionID(partition), partitionTag: PartitionDeliveryTag(partitionTags[partition]),
                               tracked: true)
        }
        _ = try! map.settle(last, multiple: true)
    }
}

// MARK: Store

func benchStore() -> Result {
    let directory = NSTemporaryDirectory() + "broker-micro-bench-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var logger = Logger(label: "micro-bench")
    logger.logLevel = .warning
    let (store, _) = try! MessageStore.open(directory: directory, partition: 0, partitions: 1, logger: logger)
    defer { store.close() }
    let ref = store.queueDeclared(JournalQueue(id: QueueID(vhost: .default, name: QueueName("orders")), autoDelete: false,
                                               arguments: ByteBuffer()))
    let message = LinkMessage(exchange: "", routingKey: "orders", properties: properties(),
                              body: ByteBuffer(repeating: 0x61, count: 1024))
    var sequence: UInt64 = 0
    return measure("store: append 64 × 1 KB persistent + one pwrite, then remove them", operations: 1_000_000, batch: 64,
                   allocationFree: true) {
        let first = sequence
        var segment: UInt32 = 0
        for _ in 0..<64 {
            segment = store.append(message, queue: ref, sequence: sequence, expiresAt: .max, redelivered: false,
                                   persistent: true)
            sequence &+= 1
        }
        try! store.writeBuffered()
        for s in first..<sequence { store.removed(queue: ref, sequence: s, segment: segment) }
    }
}

// MARK: Report

let results = [benchDecode(wholePublish: true), benchDecode(wholePublish: false), benchDeliveryEncode(),
               benchDeliveryPatch(), benchLink(), benchTopic(), benchTags(), benchStore()]
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
print(pad("benchmark", 72) + " " + pad("ns/op", 10) + " allocations/op")
var failed = false
for result in results {
    let ns = String(format: "%.1f", result.nanosecondsPerOp)
    let allocations = String(format: "%.3f", result.allocationsPerOp)
    var line = pad(result.name, 72) + " " + pad(ns, 10) + " " + allocations
    if result.allocationFree {
        line += result.allocationsPerOp < 0.01 ? "  (allocation-free: ok)" : "  (allocation-free: ALLOCATES)"
        if result.allocationsPerOp >= 0.01 { failed = true }
    }
    print(line)
}
if check && failed {
    print("a path documented as allocation-free allocates")
    exit(1)
}
