import BrokerModel
import Testing
import TestSupport
@testable import RouterCore

@Suite("DeliveryTagMap")
struct DeliveryTagMapTests {
    static func p(_ i: Int) -> PartitionID { PartitionID(i) }
    static func w(_ partition: Int, _ tag: UInt64, _ multiple: Bool) -> WorkerSettle {
        WorkerSettle(partition: PartitionID(partition), tag: PartitionDeliveryTag(tag), multiple: multiple)
    }

    /// Tags 1…9 from three partitions, interleaved; each partition numbers its own 1, 2, 3.
    static func interleaved() -> DeliveryTagMap {
        var map = DeliveryTagMap()
        let order = [0, 1, 2, 0, 0, 2, 1, 2, 1]
        var next = [UInt64](repeating: 1, count: 3)
        for (i, partition) in order.enumerated() {
            let tag = map.nextTag(partition: p(partition), partitionTag: PartitionDeliveryTag(next[partition]), tracked: true)
            #expect(tag == ClientDeliveryTag(UInt64(i + 1)))
            next[partition] += 1
        }
        return map
    }
    // client tag → (partition, partition tag):
    // 1→(0,1) 2→(1,1) 3→(2,1) 4→(0,2) 5→(0,3) 6→(2,2) 7→(1,2) 8→(2,3) 9→(1,3)

    static func settle(_ map: inout DeliveryTagMap, _ tag: UInt64, multiple: Bool) -> Result<[WorkerSettle], SettleError> {
        do throws(SettleError) {
            return .success(try map.settle(ClientDeliveryTag(tag), multiple: multiple))
        } catch {
            return .failure(error)
        }
    }

    @Test("a single settle names exactly that worker delivery")
    func single() throws {
        var map = Self.interleaved()
        #expect(try map.settle(ClientDeliveryTag(6), multiple: false) == [Self.w(2, 2, false)])
        #expect(try map.settle(ClientDeliveryTag(1), multiple: false) == [Self.w(0, 1, false)])
        #expect(map.outstandingCount == 7)
    }

    @Test("multiple settles one 'up to W' per partition")
    func multiple() throws {
        var map = Self.interleaved()
        #expect(try map.settle(ClientDeliveryTag(5), multiple: true) == [Self.w(0, 3, true), Self.w(1, 1, true), Self.w(2, 1, true)])
        #expect(map.outstandingCount == 4)
        // 6…8: partitions 1 and 2 only.
        #expect(try map.settle(ClientDeliveryTag(8), multiple: true) == [Self.w(1, 2, true), Self.w(2, 3, true)])
        #expect(try map.settle(ClientDeliveryTag(9), multiple: true) == [Self.w(1, 3, true)])
        #expect(map.outstandingCount == 0)
    }

    @Test("multiple skips tags already settled singly")
    func multipleAfterSingles() throws {
        var map = Self.interleaved()
        _ = try map.settle(ClientDeliveryTag(5), multiple: false)   // (0,3)
        _ = try map.settle(ClientDeliveryTag(2), multiple: false)   // (1,1)
        #expect(try map.settle(ClientDeliveryTag(6), multiple: true) == [Self.w(0, 2, true), Self.w(2, 2, true)])
        #expect(map.outstandingCount == 3)
    }

    @Test("tag 0 with multiple settles everything; with nothing outstanding it is a no-op")
    func zero() throws {
        var map = Self.interleaved()
        _ = try map.settle(ClientDeliveryTag(4), multiple: false)
        #expect(try map.settle(ClientDeliveryTag(0), multiple: true) == [Self.w(0, 3, true), Self.w(1, 3, true), Self.w(2, 3, true)])
        #expect(map.outstandingCount == 0)
        #expect(try map.settle(ClientDeliveryTag(0), multiple: true) == [])
        #expect(map.settleAll() == [])
        // Tag 0 without multiple is just an unknown tag.
        #expect(Self.settle(&map, 0, multiple: false) == .failure(.unknownTag(ClientDeliveryTag(0))))
    }

    @Test("unknown, never-issued and double-settled tags are errors and change nothing")
    func unknown() throws {
        var map = Self.interleaved()
        #expect(Self.settle(&map, 10, multiple: false) == .failure(.unknownTag(ClientDeliveryTag(10))))
        #expect(Self.settle(&map, 10, multiple: true) == .failure(.unknownTag(ClientDeliveryTag(10))))
        _ = try map.settle(ClientDeliveryTag(3), multiple: false)
        #expect(Self.settle(&map, 3, multiple: false) == .failure(.unknownTag(ClientDeliveryTag(3))))
        // RabbitMQ (collect_acks) wants the tag itself outstanding for multiple=true as well.
        #expect(Self.settle(&map, 3, multiple: true) == .failure(.unknownTag(ClientDeliveryTag(3))))
        #expect(map.outstandingCount == 8)
        _ = try map.settle(ClientDeliveryTag(4), multiple: true)
        #expect(Self.settle(&map, 2, multiple: true) == .failure(.unknownTag(ClientDeliveryTag(2))))
        #expect(Self.settle(&map, 4, multiple: false) == .failure(.unknownTag(ClientDeliveryTag(4))))
        #expect(map.outstandingCount == 5)
    }

    @Test("noAck deliveries consume tags but leave nothing to settle")
    func untracked() throws {
        var map = DeliveryTagMap()
        #expect(map.nextTag(partition: Self.p(0), partitionTag: PartitionDeliveryTag(1), tracked: false) == ClientDeliveryTag(1))
        #expect(map.nextTag(partition: Self.p(1), partitionTag: PartitionDeliveryTag(1), tracked: true) == ClientDeliveryTag(2))
        #expect(map.nextTag(partition: Self.p(0), partitionTag: PartitionDeliveryTag(2), tracked: false) == ClientDeliveryTag(3))
        #expect(map.nextTag(partition: Self.p(0), partitionTag: PartitionDeliveryTag(3), tracked: true) == ClientDeliveryTag(4))
        #expect(map.outstandingCount == 2)
        #expect(Self.settle(&map, 1, multiple: false) == .failure(.unknownTag(ClientDeliveryTag(1))))
        #expect(Self.settle(&map, 3, multiple: true) == .failure(.unknownTag(ClientDeliveryTag(3))))
        #expect(try map.settle(ClientDeliveryTag(4), multiple: true) == [Self.w(0, 3, true), Self.w(1, 1, true)])
    }

    @Test("forgetAll drops everything; numbering goes on")
    func forget() {
        var map = Self.interleaved()
        map.forgetAll()
        #expect(map.outstandingCount == 0)
        #expect(map.settleAll() == [])
        #expect(map.nextTag(partition: Self.p(0), partitionTag: PartitionDeliveryTag(9), tracked: true) == ClientDeliveryTag(10))
    }

    @Test("randomized: settles match a naive model")
    func randomized() throws {
        var rng = SeededGenerator(seed: 0xC0FFEE)
        for _ in 0..<50 {
            var map = DeliveryTagMap()
            // The model: outstanding client tag → (partition, partition tag).
            var model: [UInt64: (Int, UInt64)] = [:]
            var partitionNext = [UInt64](repeating: 1, count: 4)
            var nextClient: UInt64 = 1
            for _ in 0..<300 {
                let roll = rng.next() % 10
                if roll < 6 {
                    let partition = Int(rng.next() % 4)
                    let tracked = rng.next() % 5 != 0
                    let tag = map.nextTag(partition: Self.p(partition), partitionTag: PartitionDeliveryTag(partitionNext[partition]), tracked: tracked)
                    #expect(tag.value == nextClient)
                    if tracked { model[nextClient] = (partition, partitionNext[partition]) }
                    partitionNext[partition] += 1
                    nextClient += 1
                } else {
                    let tag = nextClient == 1 ? 0 : rng.next() % nextClient
                    let multiple = rng.next() % 2 == 0
                    let result = Self.settle(&map, tag, multiple: multiple)
                    if multiple && tag == 0 || model[tag] != nil {
                        let covered = model.keys.filter { multiple ? (tag == 0 || $0 <= tag) : $0 == tag }
                        var expected: [Int: UInt64] = [:]
                        for key in covered {
                            let (partition, ptag) = model.removeValue(forKey: key)!
                            expected[partition] = max(expected[partition] ?? 0, ptag)
                        }
                        let want = expected.keys.sorted().map { Self.w($0, expected[$0]!, multiple) }
                        #expect(result == .success(want))
                    } else {
                        #expect(result == .failure(.unknownTag(ClientDeliveryTag(tag))))
                    }
                    #expect(map.outstandingCount == model.count)
                }
            }
        }
    }
}
