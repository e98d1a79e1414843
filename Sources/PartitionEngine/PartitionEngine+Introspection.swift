// What operators can ask a worker about its partition.
import BrokerModel

extension PartitionEngine {
    /// Every queue of the partition, sorted by vhost then name.
    public func queueSummaries() -> [QueueSummary] {
        queues.values
            .map { queue in
                QueueSummary(vhost: queue.id.vhost, name: queue.id.name, durable: queue.durable,
                             exclusive: queue.exclusive, autoDelete: queue.autoDelete, ready: queue.ready.count,
                             unacked: queue.unackedCount, consumers: queue.consumers.count)
            }
            .sorted { ($0.vhost.name, $0.name.name) < ($1.vhost.name, $1.name.name) }
    }
}
