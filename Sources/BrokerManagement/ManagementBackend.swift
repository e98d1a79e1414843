// BrokerManagement: what operators see over HTTP: /metrics (Prometheus), /health, the
// management API (RabbitMQ's paths and JSON) and the dashboard. It knows the router only
// through `ManagementBackend`, which the router implements: counters, the topology, the
// client connections and requests to workers, never a connection's handler or a link.
import BrokerModel
import BrokerTelemetry
import LinkWire
import NIOCore
import RouterCore

/// What the management endpoints need from the router.
public protocol ManagementBackend: AnyObject, Sendable {
    /// The loop management state lives on (rates, samples); futures are answered there.
    var eventLoop: EventLoop { get }
    var partitions: Int { get }
    /// The topology as of now, with the users, vhosts and permissions.
    var topology: Topology { get }
    /// Applies one change to the topology, as a client's declare would.
    func updateTopology<T>(_ change: @escaping @Sendable (inout Topology) throws(TopologyError) -> T) throws(TopologyError) -> T
    func partition(of queue: QueueID) -> PartitionID
    var alarms: ResourceAlarmState { get }

    /// The router's counters, summed over its event loops.
    func routerCounters() -> EventLoopFuture<RouterCounters>
    /// A plain HTTP/2 GET to the worker owning `partition` (e.g. /v1/stats).
    func workerGet(_ path: String, partition: Int) -> EventLoopFuture<(status: Int, body: ByteBuffer)>
    /// For each partition, whether every router event loop has its link to the worker up.
    func linkedEverywhere() -> EventLoopFuture<[Bool]>
    /// Every open client connection, with its channels and consumers.
    func connections() -> EventLoopFuture<[ConnectionSnapshot]>
    /// Closes the connection called `name` with 320 CONNECTION_FORCED; false when there is none.
    func closeConnection(named name: String, reason: String) -> EventLoopFuture<Bool>
    /// A request of the router's own to the worker owning `partition`, answered by the worker.
    func controlRequest(to partition: PartitionID, _ make: @escaping @Sendable (LinkRequestID) -> LinkRequest) -> EventLoopFuture<RequestAnswer>
}

/// The resource alarms as they stand (RabbitMQ's memory and disk alarms).
public struct ResourceAlarmState: Sendable {
    public var memory: Bool
    public var disk: Bool
    /// The memory limit the alarm compares with (bytes; 0 before the first check).
    public var memoryLimit: UInt64

    public init(memory: Bool, disk: Bool, memoryLimit: UInt64) {
        self.memory = memory
        self.disk = disk
        self.memoryLimit = memoryLimit
    }
}
