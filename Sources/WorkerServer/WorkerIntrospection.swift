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
            return (200, #"{"status":"ok","partition":\#(partition),"partitions":\#(host.configuration.partitions),"queues":\#(host.engine.queueCount)}"#)
        case ("GET", "/v1/queues"):
            let items = host.engine.queueSummaries().map { q in
                #"{"vhost":\#(json(q.vhost)),"name":\#(json(q.name)),"durable":\#(q.durable),"exclusive":\#(q.exclusive),"auto_delete":\#(q.autoDelete),"messages_ready":\#(q.ready),"messages_unacknowledged":\#(q.unacked),"consumers":\#(q.consumers)}"#
            }
            return (200, "[" + items.joined(separator: ",") + "]")
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
            guard let data = try? JSONEncoder().encode(stats) else { return (500, #"{"error":"encoding failed"}"#) }
            return (200, String(decoding: data, as: UTF8.self))
        default:
            return (404, #"{"error":"not found"}"#)
        }
    }

    /// glibc's malloc_trim(0), looked up at run time (Swift's Glibc module does not export it).
    static func releaseFreeMemory() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = mallocTrim else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    nonisolated(unsafe) private static let mallocTrim = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")

    /// A JSON string literal.
    static func json(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(scalar.value, radix: 16).leftPad(4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

private extension String {
    func leftPad(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
