// RouterServer: the AMQP front door. K event loops (one per core); each loop has its own
// HTTP/2 link to every worker, and every client connection lives on one loop and uses that
// loop's links, so the data path shares nothing across threads except the topology
// snapshot, which it only reads.
import Atomics
import BrokerManagement
import BrokerModel
import LinkTransport
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOPosix
import RouterCore

public struct RouterConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var partitions: Int
    /// Where the workers' sockets are: `<runtimeDirectory>/worker-<i>.sock`.
    public var runtimeDirectory: String
    public var eventLoops: Int
    public var heartbeatSeconds: UInt16
    /// Users named in the configuration: made or updated at start and on a reload. With none,
    /// a new broker has guest/guest, as RabbitMQ.
    public var users: [ConfiguredUser] = []
    /// Users who may log in only from this host (RabbitMQ's `loopback_users`).
    public var loopbackUsers: Set<String> = ["guest"]
    /// How long to wait for the workers' sockets at start-up.
    public var workerWait: TimeAmount
    /// The disk alarm's file system and limit; nil for no disk alarm.
    public var diskWatch: DiskWatch?
    /// Port of the telemetry HTTP endpoint (metrics, health, management API); nil for none.
    public var telemetryPort: Int?
    /// The address the telemetry endpoint listens on: loopback unless configured, since the
    /// management API is there too.
    public var telemetryHost = "127.0.0.1"
    /// The memory alarm's watermark over all the cluster's processes together: a fraction
    /// of physical memory when at most 1 (RabbitMQ's vm_memory_high_watermark, 0.4 by
    /// default), otherwise bytes; 0 for no memory alarm.
    public var memoryHighWatermark: Double = 0.4
    /// The largest body a publish may carry (RabbitMQ's `max_message_size`, 128 MiB by
    /// default); a larger one closes its channel with 406 before anything reaches a worker.
    public var maxMessageSize = Self.defaultMaxMessageSize
    /// Client connections the router takes at most; nil for no limit.
    public var maxConnections: Int?
    /// RabbitMQ's default `max_message_size` (128 MiB).
    public static let defaultMaxMessageSize = 128 << 20
    /// The most `max_message_size` may be: what the link carries in one message (256 MiB)
    /// less room for the routing information.
    public static let largestMaxMessageSize = 255 << 20
    /// The amqps listener and its certificates; nil for none.
    public var tls: TLSSettings?
    /// Serve the telemetry port over TLS with `tls`'s certificate (HTTPS).
    public var telemetryTLS = false
    /// The cluster's data directory: the durable topology is kept in `router/`; nil keeps
    /// it in memory only.
    public var dataDirectory: String?
    /// Partitions whose worker lives on another host, by index, at a TCP address (issue 18);
    /// the others are this host's, on their Unix sockets.
    public var remoteWorkers: [Int: LinkEndpoint] = [:]
    /// The mutual-TLS identity for links to workers on other hosts.
    public var linkTLS: LinkTLS?
    /// The partition map's claim epochs, by partition (with etcd): a worker holding another
    /// claim refuses the link.
    public var workerEpochs: [Int: Int64] = [:]
    /// Where the routers of several hosts share their topology (etcd); nil: this router's own.
    public var sharedTopology: (any SharedTopology)?
    /// Partitions the map gave no owner yet: their links keep trying in the background, and
    /// the map's watch moves them to the owner when there is one, instead of failing the start.
    public var ownerlessWorkers: Set<Int> = []
    /// This router's connection ids start after it. Workers tell connections apart by id, so
    /// routers that share workers take bases that differ (`RouterSerial`): ids never meet.
    public var connectionIDBase: UInt64 = 0

    public init(host: String, port: Int, partitions: Int, runtimeDirectory: String, eventLoops: Int,
                heartbeatSeconds: UInt16 = 60, workerWait: TimeAmount = .seconds(30),
                diskWatch: DiskWatch? = nil, telemetryPort: Int? = nil) {
        self.diskWatch = diskWatch
        self.telemetryPort = telemetryPort
        self.host = host
        self.port = port
        self.partitions = partitions
        self.runtimeDirectory = runtimeDirectory
        self.eventLoops = eventLoops
        self.heartbeatSeconds = heartbeatSeconds
        self.workerWait = workerWait
    }

    public static func workerSocketPath(runtimeDirectory: String, partition: Int) -> String {
        "\(runtimeDirectory)/worker-\(partition).sock"
    }

    /// Where partition `index`'s worker is reached: on another host, or this host's socket.
    public func workerEndpoint(_ index: Int) -> LinkEndpoint {
        remoteWorkers[index] ?? localWorker(index)
    }

    func localWorker(_ index: Int) -> LinkEndpoint {
        .unix(path: Self.workerSocketPath(runtimeDirectory: runtimeDirectory, partition: index))
    }
}

public final class RouterServer: Sendable {
    /// The management API for `broker ctl`, in the runtime directory.
    public static let operatorSocketName = "management.sock"

    public let configuration: RouterConfiguration
    private let group: MultiThreadedEventLoopGroup
    let logger: Logger
    let context: RouterContext
    /// The client side of mutual TLS for links to workers on other hosts.
    private let linkTLS: NIOSSLContext?
    private let connectionIDs: ManagedAtomic<UInt64>
    /// Every event loop's services, once started (for a graceful stop).
    private let loops = NIOLockedValueBox<[LoopServices]>([])
    /// Follows the other routers' topology changes, when it is shared.
    private let topologyWatch = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// A reload: the configured users are made or updated, and the loopback users replaced;
    /// connections already open stay.
    public func reloadUsers(_ users: [ConfiguredUser], loopbackUsers: Set<String>) {
        try? context.topology.update { (topology: inout Topology) throws(TopologyError) in
            topology.access.loopbackUsers = loopbackUsers
            topology.access.apply(configured: users)
        }
    }

    /// Partition `index`'s worker is now at `endpoint` (nil: this host's socket) with claim
    /// `epoch` (the partition map changed): every loop's link to it moves there.
    public func relocateWorker(_ index: Int, to remote: LinkEndpoint?, epoch: Int64) {
        let endpoint = remote ?? configuration.localWorker(index)
        if endpoint.isTCP, linkTLS == nil {
            logger.error("partition map: a worker moved to another host, but this router has no link TLS files to reach it",
                         metadata: ["partition": "\(index)", "address": "\(endpoint)"])
        }
        for services in loops.withLockedValue({ $0 }) where services.links.indices.contains(index) {
            services.eventLoop.execute { services.links[index].relocate(to: endpoint, epoch: epoch) }
        }
    }

    /// Reads back the durable topology (with the users), if there is a data directory.
    public init(configuration: RouterConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.connectionIDs = ManagedAtomic(configuration.connectionIDBase)
        if !configuration.remoteWorkers.isEmpty, configuration.linkTLS == nil {
            throw LinkTLS.Invalid(description: "workers on other hosts need --link-cert-file, --link-key-file and --link-ca-file: links between hosts are mutual TLS")
        }
        self.linkTLS = try configuration.linkTLS?.clientContext()
        var initial = Topology()
        var file: TopologyFile?
        var saved: DurableTopology?
        if let directory = configuration.dataDirectory {
            file = try TopologyFile(dataDirectory: directory, partitions: configuration.partitions, logger: logger)
            saved = try file!.load()
            if let saved { try initial.restore(saved) }
        }
        initial.access.loopbackUsers = configuration.loopbackUsers
        // A first start with users configured has those instead of guest, as RabbitMQ's
        // default_user; later starts keep the users made since.
        if saved?.access == nil, !configuration.users.isEmpty { _ = initial.access.deleteUser("guest") }
        initial.access.apply(configured: configuration.users)
        let topology = TopologyStore(initial, file: file, saved: saved)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoops))
        self.context = RouterContext(partitions: configuration.partitions, heartbeatSeconds: configuration.heartbeatSeconds,
                                     maxMessageSize: configuration.maxMessageSize,
                                     maxConnections: configuration.maxConnections, topology: topology)
    }

    /// Connects every loop to every worker, then listens. Returns the listening channel.
    public func start() async throws -> Channel {
        if let shared = configuration.sharedTopology {
            let watch = try await context.topology.share(through: shared, logger: logger)
            topologyWatch.withLockedValue { $0 = watch }
            // This router's configured users, in the shared part too.
            reloadUsers(configuration.users, loopbackUsers: configuration.loopbackUsers)
        }
        var servicesByLoop: [ObjectIdentifier: LoopServices] = [:]
        var allServices: [LoopServices] = []
        for (index, loop) in group.makeIterator().enumerated() {
            let services = try await loop.flatSubmit {
                self.connectLinks(on: loop).map { LoopServices(index: index, eventLoop: loop, links: $0.value) }
            }.get()
            servicesByLoop[ObjectIdentifier(loop)] = services
            allServices.append(services)
        }
        for services in allServices {
            try await services.eventLoop.submit { services.all = allServices }.get()
        }
        // The queues the workers have (durable ones recovered, others that outlived a router
        // restart) before the first client arrives.
        if let home = allServices.first {
            try await home.eventLoop.flatSubmit {
                EventLoopFuture.andAllComplete(home.links.map { $0.reconcileQueues() }, on: home.eventLoop)
            }.get()
        }
        loops.withLockedValue { $0 = allServices }
        let everyLoop = allServices
        context.topology.vhostsGone.withLockedValue { handler in
            handler = { vhosts in
                for services in everyLoop { services.eventLoop.execute { services.forceClose(in: Set(vhosts)) } }
            }
        }
        startResourceAlarms(services: allServices)
        for services in allServices { services.eventLoop.execute { services.startLagProbe() } }
        var telemetry: (Telemetry, SocketAddress?)?
        let backend = RouterManagementBackend(loops: allServices, context: context)
        if let port = configuration.telemetryPort {
            var telemetryTLS: NIOSSLContext?
            if configuration.telemetryTLS {
                guard let tls = configuration.tls else { throw TLSSettings.Invalid(description: "telemetry over TLS needs the TLS certificate and key") }
                var https = tls
                https.verifyPeer = false  // HTTP clients log in with a password, not a certificate
                telemetryTLS = try https.makeContext()
            }
            let (served, channel) = try await TelemetryHTTPServer.start(group: group, host: configuration.telemetryHost, port: port,
                                                                        tls: telemetryTLS, backend: backend, logger: logger)
            telemetry = (served, channel.localAddress)
            logger.info("telemetry listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        }
        // Always: `broker ctl` works on any cluster without set-up.
        let operatorSocket = configuration.runtimeDirectory + "/" + Self.operatorSocketName
        _ = try await TelemetryHTTPServer.startOperatorSocket(group: group, path: operatorSocket,
                                                              telemetry: telemetry?.0 ?? Telemetry(backend: backend), logger: logger)
        let channel = try await listen(port: configuration.port, services: servicesByLoop, tls: nil)
        if let tls = configuration.tls, let port = tls.port {
            let secure = try await listen(port: port, services: servicesByLoop, tls: (try tls.makeContext(), tls.login))
            logger.info("router listening for TLS (amqps)", metadata: ["address": "\(secure.localAddress.map { "\($0)" } ?? "?")"])
        }
        if let (telemetry, http) = telemetry { telemetry.setListeners(amqp: channel.localAddress, http: http) }
        logger.info("router listening", metadata: [
            "address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
            "partitions": "\(configuration.partitions)", "eventLoops": "\(configuration.eventLoops)",
        ])
        return channel
    }

    /// The AMQP listener on `port`; with `tls`, each connection starts with a TLS handshake.
    private func listen(port: Int, services loopServices: [ObjectIdentifier: LoopServices],
                        tls: (context: NIOSSLContext, login: CertificateLogin)?) async throws -> Channel {
        let context = self.context
        let logger = self.logger
        let ids = self.connectionIDs
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: UInt(ReadPacing.readsPerTurn))  // ReadPacing may lower it
            // A client is "slow" once 1 MiB waits in its socket buffer; deliveries to it stop
            // at the link until it is below 256 KiB.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let services = loopServices[ObjectIdentifier(channel.eventLoop)]!
                    let id = ConnectionID(ids.wrappingIncrementThenLoad(ordering: .relaxed))
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context)) }
                    let handler = AMQPConnectionHandler(id: id, context: context, services: services, logger: logger,
                                                        certificateLogin: tls?.login)
                    // Reads grow to 256 KiB under load (NIO's default stops at 64 KiB), so a 128 KiB
                    // body frame mostly arrives in one read, unless three or more publishers on the
                    // loop contend and share its turns in smaller pieces (ReadPacing).
                    try channel.syncOptions!.setOption(.recvAllocator, value: PacedRecvAllocator(pacing: handler.readPacing))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: configuration.host, port: port)
            .get()
    }

    /// Whether every event loop runs tasks: none is stuck (the systemd watchdog's check).
    public func liveness() async -> Bool {
        let all = loops.withLockedValue { $0 }
        for services in all {
            guard (try? await services.eventLoop.submit {}.get()) != nil else { return false }
        }
        return !all.isEmpty
    }

    /// A graceful stop, after the listener is closed: every client gets connection.close 320
    /// with RabbitMQ's shutdown text, and the router waits up to `timeout` for the clients to
    /// answer (their connections then go). Returns how many are still open.
    public func closeClients(timeout: TimeAmount) async -> Int {
        let all = loops.withLockedValue { $0 }
        for services in all {
            try? await services.eventLoop.submit {
                for connection in services.connections.values {
                    connection.closeConnection(.connectionForced, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'")
                }
            }.get()
        }
        let deadline = NIODeadline.now() + timeout
        while true {
            var open = 0
            for services in all { open += (try? await services.eventLoop.submit { services.connections.count }.get()) ?? 0 }
            if open == 0 || NIODeadline.now() >= deadline { return open }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    public func shutdown() async throws {
        topologyWatch.withLockedValue { $0?.cancel() }
        try await group.shutdownGracefully()
    }

    /// One link per worker for `loop`, retrying until the workers are up or time runs out.
    private func connectLinks(on loop: EventLoop) -> EventLoopFuture<NIOLoopBound<[WorkerLinkClient]>> {
        let links = (0..<configuration.partitions).map { index in
            WorkerLinkClient(
                partition: PartitionID(index), endpoint: configuration.workerEndpoint(index),
                epoch: configuration.workerEpochs[index], tls: linkTLS,
                eventLoop: loop, topology: context.topology, logger: logger)
        }
        let forwarder = Republisher(topology: context.topology, logger: logger)
        forwarder.links = links
        for link in links { link.republisher = forwarder }
        let deadline = NIODeadline.now() + configuration.workerWait
        var connected: [EventLoopFuture<Void>] = []
        for link in links {
            if configuration.ownerlessWorkers.contains(link.partition.index) {
                link.reconnectInBackground()
            } else {
                connected.append(connectWithRetry(link, until: deadline))
            }
        }
        return EventLoopFuture.andAllSucceed(connected, on: loop).map { NIOLoopBound(links, eventLoop: loop) }
    }

    private func connectWithRetry(_ link: WorkerLinkClient, until deadline: NIODeadline) -> EventLoopFuture<Void> {
        link.connect().flatMapError { error in
            guard NIODeadline.now() < deadline else {
                return link.eventLoop.makeFailedFuture(WorkerUnreachable(partition: link.partition, endpoint: link.endpoint, underlying: "\(error)"))
            }
            return link.eventLoop.scheduleTask(in: .milliseconds(100)) {}.futureResult.flatMap {
                self.connectWithRetry(link, until: deadline)
            }
        }
    }
}

public struct WorkerUnreachable: Error, CustomStringConvertible {
    public var partition: PartitionID
    public var endpoint: LinkEndpoint
    public var underlying: String
    public var description: String { "worker \(partition.index) is not reachable at \(endpoint): \(underlying)" }
}
