// A client connection's streams to the workers and the link messages queued on each this
// tick, indexed by partition so that a publish finds its stream without hashing.
import BrokerModel
import LinkHTTP2
import NIOCore

struct WorkerStreams {
    /// The stream to each worker, opened lazily (invariant 2).
    private var streams: [HTTP2StreamID?]
    /// Link messages written this tick, handed to the link at the flush.
    var outbound: [ByteBuffer]

    init(partitions: Int) {
        streams = Array(repeating: nil, count: partitions)
        outbound = Array(repeating: ByteBuffer(), count: partitions)
    }

    subscript(partition: PartitionID) -> HTTP2StreamID? {
        get { streams[partition.index] }
        set { streams[partition.index] = newValue }
    }

    var isEmpty: Bool { !streams.contains { $0 != nil } }

    /// The open streams, in partition order.
    var open: some Sequence<(partition: PartitionID, stream: HTTP2StreamID)> {
        streams.indices.lazy.compactMap { i in self.streams[i].map { (PartitionID(i), $0) } }
    }

    /// Forgets the stream to `partition`; false when there was none.
    mutating func remove(_ partition: PartitionID) -> Bool {
        defer { streams[partition.index] = nil }
        return streams[partition.index] != nil
    }

    mutating func removeAll() {
        for i in streams.indices {
            streams[i] = nil
            outbound[i] = ByteBuffer()
        }
    }
}
