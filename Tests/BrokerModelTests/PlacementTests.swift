import BrokerModel
import Testing

@Suite("Stable placement")
struct PlacementTests {
    @Test("FNV-1a matches the published test vectors")
    func fnvVectors() {
        #expect(StableHash.fnv1a64("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a64("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.fnv1a64("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    @Test("placement hashes vhost NUL queue, so the split point matters")
    func separator() {
        let a = QueueID(vhost: VHost("ab"), name: QueueName("c"))
        let b = QueueID(vhost: VHost("a"), name: QueueName("bc"))
        let hashA = StableHash.fnv1a64(Array("ab\0c".utf8))
        #expect(Placement.partition(of: a, partitions: 1_000_003).index == Int(hashA % 1_000_003))
        #expect(Placement.partition(of: a, partitions: 1_000_003) != Placement.partition(of: b, partitions: 1_000_003))
    }

    @Test("placement is fixed across runs: pinned values")
    func pinned() {
        // These values must never change: they decide where existing queues live.
        // (Computed independently with a 10-line Python FNV-1a.)
        let q = QueueID(vhost: .default, name: QueueName("orders"))
        #expect(StableHash.fnv1a64(Array("/\0orders".utf8)) == 0x6c40_bc44_a494_a7f3)
        #expect(Placement.partition(of: q, partitions: 8) == PartitionID(3))
    }

    @Test("queues spread over all partitions")
    func spread() {
        var seen = Set<Int>()
        for i in 0..<100 {
            seen.insert(Placement.partition(of: QueueID(vhost: .default, name: QueueName("q\(i)")), partitions: 8).index)
        }
        #expect(seen.count == 8)
    }
}
