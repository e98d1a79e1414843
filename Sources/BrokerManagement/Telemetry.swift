// The router's view of the whole cluster for operators: it sums its event loops' counters,
// asks every worker for its statistics over the link (GET /v1/stats), and turns them into
// /metrics, /health and the management API's figures. Runs on the first router event loop.
import BrokerModel
import BrokerTelemetry
import Foundation
import NIOCore
import SystemFiles

public final class Telemetry: @unchecked Sendable {
    // Touched only on `eventLoop`.
    let backend: ManagementBackend
    let eventLoop: EventLoop
    let export = PrometheusExport()
    /// Round trips of the link requests to each worker.
    private var linkRoundTrip: [LatencyBuckets]
    /// Recent counter samples, oldest first, for the management API's rates.
    var rateSamples: [RateSample] = []
    /// Where the router listens (AMQP, HTTP), for /api/overview.
    var listeners: [Listener] = []
    let startedAt = NIODeadline.now()

    public init(backend: ManagementBackend) {
        self.backend = backend
        self.eventLoop = backend.eventLoop
        self.linkRoundTrip = Array(repeating: LatencyBuckets(), count: backend.partitions)
    }

    /// The router's counters, summed over its event loops.
    func routerSnapshot() -> EventLoopFuture<RouterCounters> {
        backend.routerCounters().hop(to: eventLoop)
    }

    /// Every worker's statistics (asked in parallel).
    func workers() -> EventLoopFuture<[WorkerStatus]> {
        eventLoop.flatSubmit { [self] in
            let asked = (0..<backend.partitions).map { partition -> EventLoopFuture<WorkerStatus> in
                let started = NIODeadline.now()
                return backend.workerGet("/v1/stats", partition: partition).hop(to: eventLoop).map { response -> WorkerStatus in
                    self.linkRoundTrip[partition].observe(seconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9)
                    guard response.status == 200,
                          let stats = try? JSONDecoder().decode(WorkerStats.self, from: Data(response.body.readableBytesView)) else {
                        return WorkerStatus(partition: partition, error: "bad stats response (\(response.status))", linked: true)
                    }
                    return WorkerStatus(partition: partition, stats: stats, linked: true)
                }.recover { error in
                    WorkerStatus(partition: partition, error: "\(error)", linked: false)
                }
            }
            return EventLoopFuture.whenAllSucceed(asked, on: eventLoop).and(backend.linkedEverywhere().hop(to: eventLoop)).map { statuses, linked in
                statuses.map { status in
                    var status = status
                    status.linked = status.stats != nil && linked.indices.contains(status.partition) && linked[status.partition]
                    return status
                }
            }
        }
    }

    /// The Prometheus text of every process.
    func metrics() -> EventLoopFuture<String> {
        routerSnapshot().and(workers()).map { [self] router, workers in
            export.begin()
            exportRouter(router)
            for worker in workers { exportWorker(worker) }
            return export.finish()
        }
    }

    /// 200 when the router and every worker are up and linked, else 503; a JSON body per process.
    func health() -> EventLoopFuture<(status: Int, body: String)> {
        workers().map { workers in
            var processes: [JSON] = [["process": "router", "status": "up"]]
            for worker in workers {
                var entry: [(key: String, value: JSON)] = [
                    ("process", .string("worker-\(worker.partition)")), ("partition", .int(worker.partition)),
                    ("status", .string(worker.linked ? "up" : "down")),
                ]
                if let error = worker.error { entry.append(("error", .string(error))) }
                processes.append(.object(entry))
            }
            let healthy = workers.allSatisfy(\.linked)
            let body: JSON = ["status": .string(healthy ? "ok" : "degraded"), "processes": .array(processes)]
            return (healthy ? 200 : 503, body.text)
        }
    }

    private func exportRouter(_ router: RouterCounters) {
        let labels = [("process", "router")]
        let e = export
        e.counter("broker_published_messages_total", "Messages published by clients (basic.publish).", labels, router.published)
        e.counter("broker_routed_messages_total", "Publishes routed to at least one queue (or held by a delayed exchange, or a direct reply).", labels, router.routed)
        e.counter("broker_unroutable_messages_total", "Publishes that matched no queue.", labels, router.unroutable)
        e.counter("broker_returned_messages_total", "Mandatory publishes returned with basic.return.", labels, router.returned)
        e.counter("broker_confirmed_messages_total", "Publishes confirmed to the publisher with basic.ack.", labels, router.confirmed)
        e.counter("broker_publisher_nacks_total", "Publishes refused to the publisher with basic.nack.", labels, router.confirmNacked)
        e.counter("broker_client_deliveries_total", "basic.deliver and basic.get-ok frames sent to clients.", labels, router.delivered)
        e.counter("broker_received_bytes_total", "Bytes received from AMQP clients.", labels, router.bytesReceived)
        e.counter("broker_sent_bytes_total", "Bytes sent to AMQP clients.", labels, router.bytesSent)
        e.counter("broker_connections_opened_total", "AMQP connections accepted.", labels, router.connectionsOpened)
        e.gauge("broker_connections", "Open AMQP connections.", labels, Double(router.connections))
        e.gauge("broker_channels", "Open AMQP channels.", labels, Double(router.channels))
        e.gauge("broker_consumers", "Consumers on open channels.", labels, Double(router.consumers))
        exportProcess(.current(), labels)
        e.histogram("broker_event_loop_lag_seconds", "How late a periodic timer ran on the process's event loops.", labels, router.loopLag)
        for (partition, buckets) in linkRoundTrip.enumerated() {
            e.histogram("broker_link_round_trip_seconds", "Round trip of router-to-worker link requests.",
                        [("process", "router"), ("partition", "\(partition)")], buckets)
        }
    }

    private func exportWorker(_ status: WorkerStatus) {
        let process = [("process", "worker-\(status.partition)"), ("partition", "\(status.partition)")]
        export.gauge("broker_up", "1 when the process answers and is linked to every router event loop.", process, status.linked ? 1 : 0)
        guard let stats = status.stats else { return }
        let c = stats.counters
        let e = export
        e.counter("broker_enqueued_messages_total", "Message copies accepted into queues (one per queue).", process, c.enqueued)
        e.counter("broker_delivered_messages_total", "Messages handed to consumers or basic.get.", process, c.delivered)
        e.counter("broker_redelivered_messages_total", "Deliveries that were redeliveries.", process, c.redelivered)
        e.counter("broker_acked_messages_total", "Deliveries acknowledged by clients.", process, c.acked)
        e.counter("broker_discarded_messages_total", "Deliveries rejected or nacked without requeue.", process, c.discarded)
        e.counter("broker_requeued_messages_total", "Deliveries put back in their queue.", process, c.requeued)
        e.counter("broker_expired_messages_total", "Messages that expired in their queue (TTL).", process, c.expired)
        e.counter("broker_overflowed_messages_total", "Messages dropped or refused for a queue length limit.", process, c.overflowed)
        e.counter("broker_purged_messages_total", "Ready messages removed by queue.purge or queue deletion.", process, c.purged)
        e.counter("broker_dead_lettered_messages_total", "Messages handed to a dead-letter exchange.", process, c.deadLettered)
        e.gauge("broker_delayed_messages", "Messages held by x-delayed-message exchanges.", process, Double(stats.delayed))
        for queue in stats.queues {
            let labels = [("vhost", queue.vhost), ("queue", queue.name), ("partition", "\(status.partition)")]
            e.gauge("broker_queue_messages_ready", "Messages ready for delivery in the queue.", labels, Double(queue.ready))
            e.gauge("broker_queue_messages_unacked", "Messages delivered from the queue and not yet acknowledged.", labels, Double(queue.unacked))
            e.gauge("broker_queue_consumers", "Consumers of the queue.", labels, Double(queue.consumers))
        }
        exportProcess(stats.process, process)
        e.histogram("broker_event_loop_lag_seconds", "How late a periodic timer ran on the process's event loops.", process, stats.loopLag)
        e.histogram("broker_queue_wait_seconds", "How long delivered messages waited in their queue.", process, stats.queueWait)
        if let store = stats.store {
            e.counter("broker_store_writes_total", "Writes (pwrite) to the message store: one per event-loop tick that recorded something.", process, store.writes)
            e.counter("broker_store_written_bytes_total", "Bytes written to the message store.", process, store.writtenBytes)
            e.counter("broker_store_syncs_total", "fdatasync rounds of the message store (group commit: each covers every confirm waiting).", process, store.syncs)
            e.histogram("broker_store_sync_seconds", "How long an fdatasync round of the message store took.", process, store.syncLatency)
            e.gauge("broker_store_segments", "Segment files of the message store on disk.", process, Double(store.segments))
            e.gauge("broker_store_disk_bytes", "Bytes of the message store's segment files.", process, Double(store.diskBytes))
        }
    }

    private func exportProcess(_ figures: ProcessFigures, _ labels: [(String, String)]) {
        export.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", labels, Double(figures.residentBytes))
        export.gauge("process_open_fds", "Number of open file descriptors.", labels, Double(figures.openFileDescriptors))
        export.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", labels, figures.cpuSeconds)
    }
}

/// One worker as last asked: its statistics, or why they could not be had.
struct WorkerStatus: Sendable {
    var partition: Int
    var stats: WorkerStats?
    var error: String?
    /// Whether every router event loop has its link to the worker up.
    var linked: Bool
}
