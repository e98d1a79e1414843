// Profiling on demand (the counterpart of the pprof endpoints of the broker this project
// descends from): two samples of every process some seconds apart give, per process, the
// CPU spent per message, the event-loop lag and the memory, while the load runs.
import BrokerTelemetry
import Foundation
import NIOCore

extension Telemetry {
    struct Sample: Sendable {
        var at: NIODeadline
        var router: RouterCounters
        var routerProcess: ProcessFigures
        var workers: [WorkerStatus]
    }

    func sample() -> EventLoopFuture<Sample> {
        routerSnapshot().and(workers()).map { router, workers in
            Sample(at: .now(), router: router, routerProcess: .current(), workers: workers)
        }
    }

    /// The JSON of GET /api/profile?seconds=N.
    func profile(seconds: Int) -> EventLoopFuture<String> {
        sample().flatMap { first in
            self.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) {}.futureResult
                .flatMap { self.sample() }
                .map { second in Self.profileJSON(from: first, to: second) }
        }
    }

    static func profileJSON(from a: Sample, to b: Sample) -> String {
        let elapsed = Double((b.at - a.at).nanoseconds) / 1e9
        let published = b.router.published &- a.router.published
        var processes: [JSON] = []
        var totalCPU = b.routerProcess.cpuSeconds - a.routerProcess.cpuSeconds
        processes.append(entry(
            process: "router", stage: "AMQP, routing, confirms, tag translation", messages: published,
            cpu: b.routerProcess.cpuSeconds - a.routerProcess.cpuSeconds, lag: b.router.loopLag.subtracting(a.router.loopLag),
            resident: b.routerProcess.residentBytes, elapsed: elapsed))
        for worker in b.workers {
            guard let after = worker.stats,
                  let before = a.workers.first(where: { $0.partition == worker.partition })?.stats else { continue }
            let cpu = after.process.cpuSeconds - before.process.cpuSeconds
            totalCPU += cpu
            let messages = (after.counters.enqueued &- before.counters.enqueued) &+ (after.counters.delivered &- before.counters.delivered)
            processes.append(entry(
                process: "worker-\(worker.partition)", stage: "queues: enqueue + deliver", messages: messages, cpu: cpu,
                lag: after.loopLag.subtracting(before.loopLag), resident: after.process.residentBytes, elapsed: elapsed))
        }
        let perMessage = published > 0 ? totalCPU / Double(published) * 1e6 : 0
        let profile: JSON = [
            "seconds": .double(elapsed), "published": .int(published),
            "publish_rate": .double(Double(published) / max(elapsed, 0.001)),
            "cpu_us_per_published_message": .double(perMessage), "processes": .array(processes),
        ]
        return profile.text
    }

    private static func entry(process: String, stage: String, messages: UInt64, cpu: Double, lag: LatencyBuckets,
                              resident: UInt64, elapsed: Double) -> JSON {
        let perMessage = messages > 0 ? cpu / Double(messages) * 1e6 : 0
        return [
            "process": .string(process), "stage": .string(stage), "messages": .int(messages), "cpu_seconds": .double(cpu),
            "cpu_utilisation": .double(cpu / max(elapsed, 0.001)), "cpu_us_per_message": .double(perMessage),
            "event_loop_lag_p99_seconds": .double(lag.upperBound(quantile: 0.99)),
            "event_loop_lag_max_bucket_seconds": .double(lag.upperBound(quantile: 1)), "resident_bytes": .int(resident),
        ]
    }
}
