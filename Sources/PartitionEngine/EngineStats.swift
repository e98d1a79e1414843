// The partition's message counters and queue-wait histogram, shared by its queues (one
// object, updated in place on the worker's one thread: an increment per event, nothing more).
import BrokerTelemetry

final class EngineStats {
    var counters = WorkerStats.Counters()
    var queueWait = LatencyBuckets()

    /// A message leaves its queue for a client after waiting since `since` (engine ms).
    func delivered(redelivered: Bool, since: UInt64, now: UInt64) {
        counters.delivered &+= 1
        if redelivered { counters.redelivered &+= 1 }
        queueWait.observe(milliseconds: now &- min(since, now))
    }
}
