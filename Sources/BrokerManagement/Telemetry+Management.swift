// What the management API needs from the router beyond the counters: message rates from
// successive samples, the client connections of every event loop, requests to workers on
// their control streams, and where the router listens.
import BrokerModel
import BrokerTelemetry
import LinkWire
import NIOCore

extension Telemetry {
    struct RateSample: Sendable {
        var at: NIODeadline
        var values: [String: Double]
    }

    struct Listener: Sendable {
        var protocolName: String
        var ipAddress: String
        var port: Int
    }

    /// Per-second rates of `values` since the latest sample taken at least one second
    /// earlier (0 until there is one), and records `values` as a sample. A dashboard polling
    /// every 1–2 s sees the rate over its own polling interval. On `eventLoop`.
    func rates(of values: [String: Double], now: NIODeadline = .now()) -> [String: Double] {
        eventLoop.assertInEventLoop()
        var rates: [String: Double] = [:]
        if let index = rateSamples.lastIndex(where: { now - $0.at >= .seconds(1) }) {
            let base = rateSamples[index]
            let elapsed = Double((now - base.at).nanoseconds) / 1e9
            for (key, value) in values {
                rates[key] = (value - (base.values[key] ?? value)) / elapsed
            }
            // Older samples can no longer be the latest one a second old.
            rateSamples.removeFirst(index)
        }
        rateSamples.append(RateSample(at: now, values: values))
        if rateSamples.count > 64 { rateSamples.removeFirst(rateSamples.count - 64) }
        return rates
    }

    /// Every open client connection, with its channels and consumers, read on its own loop.
    func connectionSnapshots() -> EventLoopFuture<[ConnectionSnapshot]> {
        backend.connections().hop(to: eventLoop)
    }

    /// Closes the connection called `name` (320 CONNECTION_FORCED); false when there is none.
    func closeConnection(named name: String, reason: String) -> EventLoopFuture<Bool> {
        backend.closeConnection(named: name, reason: reason).hop(to: eventLoop)
    }

    /// A request of the router's own to the worker owning `partition`; the future has the
    /// worker's answer.
    func controlRequest(to partition: PartitionID,
                        _ make: @escaping @Sendable (LinkRequestID) -> LinkRequest) -> EventLoopFuture<RequestAnswer> {
        backend.controlRequest(to: partition, make).hop(to: eventLoop)
    }

    /// Records where the router listens (called once it is bound).
    public func setListeners(amqp: SocketAddress?, http: SocketAddress?) {
        var listeners: [Listener] = []
        if let amqp { listeners.append(Listener(protocolName: "amqp", ipAddress: amqp.ipAddress ?? "", port: amqp.port ?? 0)) }
        if let http { listeners.append(Listener(protocolName: "http", ipAddress: http.ipAddress ?? "", port: http.port ?? 0)) }
        eventLoop.execute { self.listeners = listeners }
    }
}
