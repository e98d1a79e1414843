// The resource alarms (RabbitMQ's disk_free_limit and vm_memory_high_watermark), checked
// every second on one router loop: free space on the data directory's file system, and the
// resident memory of the router and every worker together (each worker answers
// GET /v1/memory on the link). While either is on, publishing connections are blocked;
// a change of state is logged and told to every loop.
import BrokerTelemetry
import Foundation
import NIOCore
import SystemFiles

extension RouterServer {
    func startResourceAlarms(services: [LoopServices]) {
        let memoryLimit = Self.memoryLimit(configuration.memoryHighWatermark)
        context.memoryLimit.store(memoryLimit, ordering: .relaxed)
        guard configuration.diskWatch != nil || memoryLimit > 0, let home = services.first else { return }
        let context = self.context
        let logger = self.logger
        let watch = configuration.diskWatch
        home.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { _ in
            let wasActive = context.alarmActive
            if let watch {
                let (low, free) = watch.isLow()
                if context.diskAlarm.exchange(low, ordering: .relaxed) != low {
                    logger.warning(low ? "disk alarm set: free disk space is below the limit; publishers are blocked"
                                       : "disk alarm cleared",
                                   metadata: ["path": "\(watch.path)", "free": "\(free ?? 0)", "limit": "\(watch.freeLimit)"])
                }
            }
            guard memoryLimit > 0 else {
                Self.notify(services, wasActive: wasActive, context: context)
                return
            }
            let answers = home.links.map { link in
                link.get("/v1/memory").map { UInt64(String(buffer: $0.body)) ?? 0 }.recover { _ in 0 }
            }
            EventLoopFuture.whenAllSucceed(answers, on: home.eventLoop).whenSuccess { workers in
                let used = workers.reduce(ProcessFigures.current().residentBytes, +)
                let high = used > memoryLimit
                if context.memoryAlarm.exchange(high, ordering: .relaxed) != high {
                    logger.warning(high ? "memory alarm set: the broker's processes use more than the watermark; publishers are blocked"
                                        : "memory alarm cleared",
                                   metadata: ["used": "\(used)", "limit": "\(memoryLimit)"])
                }
                Self.notify(services, wasActive: wasActive, context: context)
            }
        }
    }

    private static func notify(_ services: [LoopServices], wasActive: Bool, context: RouterContext) {
        let active = context.alarmActive
        guard active != wasActive else { return }
        for loop in services {
            loop.eventLoop.execute { loop.alarmChanged(active: active) }
        }
    }

    /// Bytes from a watermark: a fraction of physical memory, or bytes above 1.
    static func memoryLimit(_ watermark: Double) -> UInt64 {
        guard watermark > 0 else { return 0 }
        return watermark <= 1 ? UInt64(Double(ProcessInfo.processInfo.physicalMemory) * watermark) : UInt64(watermark)
    }
}
