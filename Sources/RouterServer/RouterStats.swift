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

    /// A copy of the counters, to be summed across loops.
    struct Snapshot: Sendable {
        var published: UInt64 = 0, routed: UInt64 = 0, unroutable: UInt64 = 0, returned: UInt64 = 0
        var confirmed: UInt64 = 0, confirmNacked: UInt64 = 0, delivered: UInt64 = 0
        var bytesReceived: UInt64 = 0, bytesSent: UInt64 = 0, connectionsOpened: UInt64 = 0
        var connections = 0, channels = 0, consumers = 0
        var loopLag = LatencyBuckets()

        mutating func add(_ other: Snapshot) {
            published &+= other.published; routed &+= other.routed; unroutable &+= other.unroutable
            returned &+= other.returned; confirmed &+= other.confirmed; confirmNacked &+= other.confirmNacked
            delivered &+= other.delivered; bytesReceived &+= other.bytesReceived; bytesSent &+= other.bytesSent
            connectionsOpened &+= other.connectionsOpened
            connections += other.connections; channels += other.channels; consumers += other.consumers
            loopLag.add(other.loopLag)
        }
    }

    func snapshot() -> Snapshot {
        Snapshot(published: published, routed: routed, unroutable: unroutable, returned: returned, confirmed: confirmed,
                 confirmNacked: confirmNacked, delivered: delivered, bytesReceived: bytesReceived, bytesSent: bytesSent,
                 connectionsOpened: connectionsOpened, loopLag: loopLag)
    }
}
