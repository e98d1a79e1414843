// What operators (and the router's telemetry) can ask a worker about its partition.
import BrokerModel
import BrokerTelemetry
import NIOCore

extension PartitionEngine {
    /// Every queue of the partition, sorted by vhost then name.
    public func queueSummaries() -> [WorkerStats.Queue] {
        queues.values
            .map { queue in
                WorkerStats.Queue(vhost: queue.id.vhost.name, name: queue.id.name.name, durable: queue.durable,
                                  exclusive: queue.exclusive, autoDelete: queue.autoDelete, ready: queue.readyCount,
                                  unacked: queue.unackedCount, consumers: queue.consumers.count,
                                  arguments: Self.encodedArguments(queue.arguments))
            }
            .sorted { ($0.vhost, $0.name) < ($1.vhost, $1.name) }
    }

    /// The table's bytes, or nil for an empty table (a 4-byte zero length) or none.
    static func encodedArguments(_ table: ByteBuffer) -> [UInt8]? {
        table.readableBytes > 4 ? Array(table.readableBytesView) : nil
    }

    /// Message counters since the partition started.
    public var counters: WorkerStats.Counters { stats.counters }

    /// How long delivered messages waited in their queues.
    public var queueWait: LatencyBuckets { stats.queueWait }
}
