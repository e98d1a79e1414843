// Temporary store directories and persistent test messages.
import BrokerModel
import Foundation
import LinkWire
import Logging
import NIOCore
@testable import MessageStore
import PartitionEngine
import SystemFiles

let logger = Logger(label: "store-test")

/// A fresh directory under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "broker-store-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Segment files of the current generation, sorted.
    func segmentFiles(_ partitionDirectory: String) -> [String] {
        let current = (try? String(contentsOfFile: partitionDirectory + "/CURRENT", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let generation = partitionDirectory + "/" + current
        let names = (try? FileManager.default.contentsOfDirectory(atPath: generation)) ?? []
        return names.filter { $0.hasSuffix(".seg") }.sorted().map { generation + "/" + $0 }
    }
}

/// Properties with delivery-mode 2 (flags bit 12, then the octet).
let persistentProperties: ByteBuffer = {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt16(1 << 12))
    buffer.writeInteger(UInt8(2))
    return buffer
}()

func stored(_ body: String, persistent: Bool = true) -> LinkMessage {
    LinkMessage(exchange: "ex", routingKey: "key", properties: persistent ? persistentProperties : ByteBuffer(),
                body: ByteBuffer(string: body))
}

let queueA = JournalQueue(id: QueueID(vhost: .default, name: QueueName("a")), autoDelete: false,
                          arguments: ByteBuffer())

func openStore(_ directory: String, segmentLimit: UInt64 = 64 << 20) throws -> (MessageStore, [RecoveredQueue]) {
    try MessageStore.open(directory: directory, partition: 0, partitions: 1, segmentLimit: segmentLimit, logger: logger)
}

/// Reads every message of a recovered queue back, in order.
func readAll(_ store: MessageStore, _ queue: RecoveredQueue) -> [JournalMessage] {
    guard var run = queue.run else { return [] }
    var cursor = run.cursor
    let messages = store.read(queue: queue.ref, from: run.firstSequence, cursor: &cursor, limit: .max)
    for message in messages { run.took(message) }
    return messages
}

/// A store holding queue "a" with one persistent message per body (sequences 0, 1, …),
/// written (not synced) and closed, as a crashed worker leaves it.
func writeQueueA(_ directory: String, bodies: [String]) throws {
    let (store, _) = try openStore(directory)
    let ref = store.queueDeclared(queueA)
    for (i, body) in bodies.enumerated() {
        _ = store.append(stored(body), queue: ref, sequence: UInt64(i), expiresAt: .max, redelivered: false, persistent: true)
    }
    try store.writeBuffered()
    store.close()
}
