// One router event loop's message counters: plain integers touched only on that loop (so a
// publish costs an increment, no atomic and no lock); telemetry sums the loops on demand.
import BrokerTelemetry

final class RouterStats {
    var published: UInt64 = 0
    /// Publishes that reached at least one queue (or a delayed exchange, or a reply consumer).
    var routed: UInt64 = 0
    var unroutable: UInt64 = 0
    /// basic.return sent for mandatory publishes.
    var returned: UInt64 = 0
    /// Publishes confirmed with basic.ack / refused with basic.nack.
    var confirmed: UInt64 = 0
    var confirmNacked: UInt64 = 0
    /// basic.deliver and basic.get-ok sent to clients.
    var delivered: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var bytesSent: UInt64 = 0
    var connectionsOpened: UInt64 = 0
    var loopLag = LatencyBuckets()

    func snapshot() -> RouterCounters {
        RouterCounters(published: published, routed: routed, unroutable: unroutable, returned: returned, confirmed: confirmed,
                 confirmNacked: confirmNacked, delivered: delivered, bytesReceived: bytesReceived, bytesSent: bytesSent,
                 connectionsOpened: connectionsOpened, loopLag: loopLag)
    }
}
