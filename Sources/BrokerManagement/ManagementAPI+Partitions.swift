// /api/partitions: one entry per worker process (a partition), with its queue and message
// figures, counters and process figures, so the dashboard can show a hot partition. This is
// the broker's own resource; RabbitMQ has no counterpart (its /api/nodes `partitions` field
// means network partitions). Counters and cpu_seconds only grow: a client computes rates
// from two polls, dividing by the difference of their `timestamp`s (milliseconds since the
// epoch on the router's clock, as in RabbitMQ's samples). A worker that does not answer is
// listed with up false and null figures.
import BrokerTelemetry
import Foundation
import NIOCore

extension ManagementAPI {
    func routePartitions(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        guard call.match(.GET, "partitions") != nil else { return nil }
        return telemetry.workers().map { workers in
            let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
            return Self.ok(.array(workers.map { Self.partitionEntry($0, timestamp: timestamp) }))
        }
    }

    static func partitionEntry(_ worker: WorkerStatus, timestamp: Int64) -> JSON {
        var entry: [(key: String, value: JSON)] = [
            ("partition", .int(worker.partition)),
            ("process", .string("worker-\(worker.partition)")),
            ("up", .bool(worker.linked)),
            ("timestamp", .int(timestamp)),
        ]
        if let stats = worker.stats {
            entry += [
                ("queues", .int(stats.queues.count)),
                ("messages_ready", .int(stats.queues.reduce(0) { $0 + $1.ready })),
                ("messages_unacknowledged", .int(stats.queues.reduce(0) { $0 + $1.unacked })),
                ("consumers", .int(stats.queues.reduce(0) { $0 + $1.consumers })),
                ("enqueued", .int(stats.counters.enqueued)),
                ("delivered", .int(stats.counters.delivered)),
                ("acked", .int(stats.counters.acked)),
                ("cpu_seconds", .double(stats.process.cpuSeconds)),
                ("resident_bytes", .int(stats.process.residentBytes)),
                ("delayed", .int(stats.delayed)),
            ]
        } else {
            entry += [
                ("queues", .null), ("messages_ready", .null), ("messages_unacknowledged", .null),
                ("consumers", .null), ("enqueued", .null), ("delivered", .null), ("acked", .null),
                ("cpu_seconds", .null), ("resident_bytes", .null), ("delayed", .null),
            ]
        }
        if let error = worker.error { entry.append(("error", .string(error))) }
        return .object(entry)
    }
}
