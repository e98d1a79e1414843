// Invariant 1 of the design: a queue lives on
//   partition(vhost, queue) = stableHash(vhost + "\0" + queue) mod N
// with a hash that is the same in every process and every run. Swift's Hasher is seeded per
// process, so it must never be used here.

/// 64-bit FNV-1a, written out so that every process and every run agree.
public enum StableHash {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    public static func fnv1a64<Bytes: Sequence>(_ bytes: Bytes, seed: UInt64 = offsetBasis) -> UInt64
    where Bytes.Element == UInt8 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* prime
        }
        return hash
    }
}

public enum Placement {
    /// The partition that owns `queue` in `vhost` when there are `partitions` workers.
    public static func partition(of queue: QueueID, partitions: Int) -> PartitionID {
        precondition(partitions > 0, "a cluster has at least one partition")
        var hash = StableHash.fnv1a64(queue.vhost.name.utf8)
        hash = StableHash.fnv1a64(CollectionOfOne(0), seed: hash)
        hash = StableHash.fnv1a64(queue.name.name.utf8, seed: hash)
        return PartitionID(Int(hash % UInt64(partitions)))
    }
}
