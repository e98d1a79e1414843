// The segment format, recovery (torn and corrupt records), and segment deletion.
import BrokerModel
import Foundation
import LinkWire
import NIOCore
import Testing
@testable import MessageStore
import PartitionEngine
import SystemFiles

@Suite struct StoreRecoveryTests {
    @Test func persistentMessagesComeBackInOrderWithDeliveriesMarked() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let (store, recovered) = try openStore(dir.path)
            #expect(recovered.isEmpty)
            let ref = store.queueDeclared(queueA)
            var segments: [UInt32] = []
            for i in 0..<10 {
                segments.append(store.append(stored("m\(i)"), queue: ref, sequence: UInt64(i), expiresAt: .max,
                                             redelivered: false, persistent: true))
            }
            _ = store.append(stored("transient", persistent: false), queue: ref, sequence: 10, expiresAt: .max,
                             redelivered: false, persistent: false)
            store.removed(queue: ref, sequence: 3, segment: segments[3])
            store.delivered(queue: ref, sequence: 5)
            try store.writeBuffered()  // written, not synced: a kill -9 keeps it (page cache)
            store.close()
        }
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        #expect(recovered.count == 1)
        let queue = try #require(recovered.first)
        #expect(queue.definition == queueA)
        #expect(queue.run?.count == 9)
        #expect(queue.nextSequence == 11)
        let messages = readAll(store, queue)
        #expect(messages.map { String(buffer: $0.message.body) } == ["m0", "m1", "m2", "m4", "m5", "m6", "m7", "m8", "m9"])
        #expect(messages.filter(\.redelivered).map(\.sequence) == [5])
        #expect(messages.allSatisfy { $0.message.exchange == "ex" && $0.message.routingKey == "key" && $0.message.isPersistent })
    }

    @Test func aTornTailIsDroppedAndTheRestRecovered() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        try writeQueueA(dir.path, bodies: (0..<5).map { "m\($0)" })
        let file = try #require(dir.segmentFiles(dir.path).last)
        let size = try #require(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(truncate(file, off_t(size - 3)) == 0)  // a crash in the middle of the last write
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        let messages = readAll(store, try #require(recovered.first))
        #expect(messages.map { String(buffer: $0.message.body) } == ["m0", "m1", "m2", "m3"])
    }

    @Test func aCorruptRecordIsDetectedByItsChecksum() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        try writeQueueA(dir.path, bodies: (0..<5).map { "body-\($0)" })
        let file = try #require(dir.segmentFiles(dir.path).last)
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        let needle = Data("body-2".utf8)
        let range = try #require(data.range(of: needle))
        data[range.lowerBound] = UInt8(ascii: "X")  // one flipped byte inside the third record
        try data.write(to: URL(fileURLWithPath: file))
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        let messages = readAll(store, try #require(recovered.first))
        // The damaged record ends its segment: what follows it cannot be trusted to be framed.
        #expect(messages.map { String(buffer: $0.message.body) } == ["body-0", "body-1"])
    }

    @Test func segmentsAreDeletedOnceEverythingInThemAndBeforeThemIsGone() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let (store, _) = try openStore(dir.path, segmentLimit: 4096)
        defer { store.close() }
        let ref = store.queueDeclared(queueA)
        let body = String(repeating: "x", count: 1000)
        var segments: [UInt32] = []
        for i in 0..<40 {
            segments.append(store.append(stored(body), queue: ref, sequence: UInt64(i), expiresAt: .max, redelivered: false,
                                         persistent: true))
        }
        try store.writeBuffered()
        let before = dir.segmentFiles(dir.path).count
        #expect(before >= 10)
        // Removing the newest messages frees nothing: older segments still hold wanted messages.
        for i in 20..<40 { store.removed(queue: ref, sequence: UInt64(i), segment: segments[i]) }
        #expect(dir.segmentFiles(dir.path).count == before)
        for i in 0..<20 { store.removed(queue: ref, sequence: UInt64(i), segment: segments[i]) }
        try store.writeBuffered()
        #expect(dir.segmentFiles(dir.path).count == 1)  // only the one being appended to
    }

    @Test func recoveryCompactsIntoANewGenerationAndForgetsDeletedQueues() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            let (store, _) = try openStore(dir.path)
            let keep = store.queueDeclared(queueA)
            let gone = store.queueDeclared(JournalQueue(id: QueueID(vhost: .default, name: QueueName("b")), autoDelete: false,
                                                        arguments: ByteBuffer()))
            for i in 0..<100 {
                let segment = store.append(stored("a\(i)"), queue: keep, sequence: UInt64(i), expiresAt: .max,
                                           redelivered: false, persistent: true)
                if i % 2 == 0 { store.removed(queue: keep, sequence: UInt64(i), segment: segment) }
                _ = store.append(stored("b\(i)"), queue: gone, sequence: UInt64(i), expiresAt: .max, redelivered: false,
                                 persistent: true)
            }
            store.removed(queue: keep, from: 90, through: 99)
            store.queueDeleted(gone)
            try store.writeBuffered()
            store.close()
        }
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        #expect(recovered.map(\.definition.id.name.name) == ["a"])
        let messages = readAll(store, recovered[0])
        #expect(messages.map(\.sequence) == Array(stride(from: 1, to: 90, by: 2)))
        #expect(try String(contentsOfFile: dir.path + "/CURRENT", encoding: .utf8) == "gen-2\n")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/gen-1"))
    }

    @Test func expiryTimesSurviveAsWallClockTimes() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let expiresAt = MessageStore.engineMilliseconds() + 60_000
        do {
            let (store, _) = try openStore(dir.path)
            let ref = store.queueDeclared(queueA)
            _ = store.append(stored("ttl"), queue: ref, sequence: 0, expiresAt: expiresAt, redelivered: false, persistent: true)
            _ = store.append(stored("forever"), queue: ref, sequence: 1, expiresAt: .max, redelivered: false, persistent: true)
            try store.writeBuffered()
            store.close()
        }
        let (store, recovered) = try openStore(dir.path)
        defer { store.close() }
        let messages = readAll(store, recovered[0])
        #expect(abs(Int64(messages[0].expiresAt) - Int64(expiresAt)) < 1_000)
        #expect(messages[1].expiresAt == .max)
    }

    @Test func aDataDirectoryRefusesAnotherPartitionCount() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        try DataDirectory.claim(dir.path, partitions: 2)
        try DataDirectory.claim(dir.path, partitions: 2)
        #expect {
            try DataDirectory.claim(dir.path, partitions: 3)
        } throws: { error in
            "\(error)".contains("created for 2 partitions, not 3")
        }
    }
}
