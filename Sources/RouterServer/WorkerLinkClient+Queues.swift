// The router's queue registry follows the workers': when a link (re)connects, the worker's
// own list of queues replaces what the router believed about that partition, so queues a
// restarted worker lost are forgotten and queues that outlived a router restart (durable or
// not) are routed to again.
import BrokerModel
import BrokerTelemetry
import Foundation
import NIOCore
import RouterCore

extension WorkerLinkClient {
    func reconcileQueues() -> EventLoopFuture<Void> {
        let partition = self.partition
        let topology = self.topology
        let recorded = topology.snapshot.queueIDs(of: partition)
        return get("/v1/stats").flatMapThrowing { response in
            guard response.status == 200 else {
                throw LinkRequestFailed(partition: partition, reason: "queue list: status \(response.status)")
            }
            let stats = try JSONDecoder().decode(WorkerStats.self, from: Data(response.body.readableBytesView))
            let records = stats.queues.map { queue in
                QueueRecord(id: QueueID(vhost: VHost(queue.vhost), name: QueueName(queue.name)), partition: partition,
                            durable: queue.durable, exclusiveOwner: queue.exclusive ? ConnectionID(0) : nil,
                            autoDelete: queue.autoDelete)
            }
            try? topology.update { (t: inout Topology) throws(TopologyError) in
                t.reconcileQueues(of: partition, with: records, askedAfter: recorded)
            }
        }
    }
}
