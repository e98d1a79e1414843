// Answers to operators' plain HTTP/2 requests on the link socket, e.g.
//   curl --http2-prior-knowledge --unix-socket <runtime-dir>/worker-0.sock http://worker/v1/queues
import BrokerModel
import BrokerTelemetry
import Foundation
import PartitionEngine
import SystemFiles

enum WorkerIntrospection {
    static func answer(method: String, path: String, host: PartitionHost) -> (status: Int, body: String) {
        switch (method, path) {
        case ("GET", "/v1/health"):
            let partition = host.configuration.partition.index
            let health: JSON = ["status": "ok", "partition": .int(partition), "partitions": .int(host.configuration.partitions),
                                "queues": .int(host.engine.queueCount)]
            return (200, health.text)
        case ("GET", "/v1/queues"):
            let items = host.engine.queueSummaries().map { q -> JSON in
                ["vhost": .string(q.vhost), "name": .string(q.name), "durable": .bool(q.durable), "exclusive": .bool(q.exclusive),
                 "auto_delete": .bool(q.autoDelete), "messages_ready": .int(q.ready), "messages_unacknowledged": .int(q.unacked),
                 "consumers": .int(q.consumers)]
            }
            return (200, JSON.array(items).text)
        case ("GET", "/v1/memory"):
            // Resident bytes, for the router's memory alarm (asked every second). Memory that
            // queues freed goes back to the system first, or the alarm could never clear.
            releaseFreeMemory()
            return (200, String(ProcessFigures.current().residentBytes))
        case ("GET", "/v1/stats"):
            let stats = WorkerStats(
                partition: host.configuration.partition.index, counters: host.engine.counters,
                queues: host.engine.queueSummaries(), delayed: host.engine.delayedCount, process: .current(),
                queueWait: host.engine.queueWait, loopLag: host.loopLag, store: host.storeStats)
            guard let data = try? JSONEncoder().encode(stats) else { return (500, JSON.object([("error", "encoding failed")]).text) }
            return (200, String(decoding: data, as: UTF8.self))
        default:
            return (404, JSON.object([("error", "not found")]).text)
        }
    }

    /// glibc's malloc_trim(0), looked up at run time (Swift's Glibc module does not export it).
    static func releaseFreeMemory() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = mallocTrim else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    nonisolated(unsafe) private static let mallocTrim = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")
}
