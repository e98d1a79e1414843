// The router's message counters and gauges: one event loop's copy, or their sum.
public struct RouterCounters: Sendable {
    public var published: UInt64 = 0, routed: UInt64 = 0, unroutable: UInt64 = 0, returned: UInt64 = 0
    public var confirmed: UInt64 = 0, confirmNacked: UInt64 = 0, delivered: UInt64 = 0
    public var bytesReceived: UInt64 = 0, bytesSent: UInt64 = 0, connectionsOpened: UInt64 = 0
    public var connections = 0, channels = 0, consumers = 0
    public var loopLag = LatencyBuckets()

    public init(published: UInt64 = 0, routed: UInt64 = 0, unroutable: UInt64 = 0, returned: UInt64 = 0,
                confirmed: UInt64 = 0, confirmNacked: UInt64 = 0, delivered: UInt64 = 0, bytesReceived: UInt64 = 0,
                bytesSent: UInt64 = 0, connectionsOpened: UInt64 = 0, loopLag: LatencyBuckets = LatencyBuckets()) {
        self.published = published
        self.routed = routed
        self.unroutable = unroutable
        self.returned = returned
        self.confirmed = confirmed
        self.confirmNacked = confirmNacked
        self.delivered = delivered
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.connectionsOpened = connectionsOpened
        self.loopLag = loopLag
    }

    public mutating func add(_ other: RouterCounters) {
        published &+= other.published; routed &+= other.routed; unroutable &+= other.unroutable
        returned &+= other.returned; confirmed &+= other.confirmed; confirmNacked &+= other.confirmNacked
        delivered &+= other.delivered; bytesReceived &+= other.bytesReceived; bytesSent &+= other.bytesSent
        connectionsOpened &+= other.connectionsOpened
        connections += other.connections; channels += other.channels; consumers += other.consumers
        loopLag.add(other.loopLag)
    }
}
