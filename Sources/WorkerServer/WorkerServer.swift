// WorkerServer: one worker process. It owns one hash partition of the queues and runs it on
// a single event loop, so the partition's state needs no lock. It listens on a Unix socket
// for the router's HTTP/2 link connections (and, for routers on other hosts, on TCP with
// mutual TLS when `linkListen` is set); each AMQP client connection arrives as one
// stream (`POST /v1/connections/<id>`), control broadcasts go on `POST /v1/control`
// streams, and `GET /v1/health` / `GET /v1/queues` answer operators.
import BrokerModel
import LinkHTTP2
import LinkTransport
import LinkWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PartitionEngine

#if canImport(Glibc)
import Glibc
#endif

public struct WorkerConfiguration: Sendable {
    public var partition: PartitionID
    public var partitions: Int
    /// Path of the Unix socket to listen on; its directory must be private (0700).
    public var socketPath: String
    /// Milliseconds a delivery may stay unacked, for queues without x-consumer-timeout.
    public var consumerTimeout: UInt64
    /// The cluster's data directory (the store goes in `partition-<i>/`); nil keeps
    /// everything in memory.
    public var dataDirectory: String?
    /// Bytes after which the store starts a new segment file.
    public var segmentSize: UInt64 = 64 << 20
    /// When durable queues page their messages out of memory.
    public var paging = PagingLimits()
    /// A TCP address to take routers of other hosts on, besides the Unix socket; needs `linkTLS`.
    public var linkListen: LinkEndpoint?
    /// The certificate, key and CA of the cluster's links between hosts.
    public var linkTLS: LinkTLS?
    /// The epoch of this worker's claim in the partition map (etcd); a router that expects
    /// another is refused. Nil without etcd.
    public var claimEpoch: Int64?

    public init(partition: PartitionID, partitions: Int, socketPath: String,
                consumerTimeout: UInt64 = PartitionEngine.defaultConsumerTimeout, dataDirectory: String? = nil) {
        self.partition = partition
        self.partitions = partitions
        self.socketPath = socketPath
        self.consumerTimeout = consumerTimeout
        self.dataDirectory = dataDirectory
    }
}

public final class WorkerServer: Sendable {
    /// What a publisher may have in flight to this worker on its stream: small, so that the
    /// acks and requests of other connections are not queued behind megabytes of publishes
    /// (a busy worker then slows publishers down instead of growing a backlog in its socket).
    static let linkSettings: HTTP2LinkSettings = {
        var settings = HTTP2LinkSettings()
        settings.initialStreamWindow = 64 << 10
        return settings
    }()

    public let configuration: WorkerConfiguration
    private let group: MultiThreadedEventLoopGroup
    /// The store's fdatasync calls, off the event loop.
    private let syncThread = NIOThreadPool(numberOfThreads: 1)
    private let logger: Logger
    private let host = NIOLockedValueBox<NIOLoopBound<PartitionHost>?>(nil)
    private let handoverEnded = NIOLockedValueBox<(@Sendable (Bool) -> Void)?>(nil)

    public init(configuration: WorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // One thread: the partition is owned by exactly one event loop.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds the Unix socket (and the TCP address, if any) and starts serving; returns the
    /// listening channels.
    public func start() async throws -> [Channel] {
        var tlsContext: NIOSSLContext?
        if let endpoint = configuration.linkListen {
            guard endpoint.isTCP else { throw LinkTLS.Invalid(description: "--link-listen takes HOST:PORT, not \(endpoint)") }
            guard let tls = configuration.linkTLS else {
                throw LinkTLS.Invalid(description: "--link-listen needs --link-cert-file, --link-key-file and --link-ca-file: links between hosts are mutual TLS")
            }
            tlsContext = try tls.serverContext()
        }
        let loop = group.next()
        syncThread.start()
        let syncThread = self.syncThread
        let state = try await loop.submit {
            let host = try PartitionHost(configuration: self.configuration, eventLoop: loop, syncThread: syncThread,
                                         logger: self.logger)
            host.startClock()
            host.handoverEnded = { done in self.handoverEnded.withLockedValue { $0 }?(done) }
            return NIOLoopBound(host, eventLoop: loop)
        }.get()
        host.withLockedValue { $0 = state }
        let path = configuration.socketPath
        unlink(path)  // a stale socket from a previous run
        let logger = self.logger
        let unix = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.recvAllocator, value: HTTP2LinkSettings.recvAllocator)
            .childChannelInitializer { channel in
                Self.peerIsOwnUser(channel, logger: logger).flatMapThrowing {
                    try Self.serveLink(on: channel, host: state.value, epoch: self.configuration.claimEpoch, logger: logger)
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
        chmod(path, 0o600)
        logger.info("worker listening", metadata: [
            "partition": "\(configuration.partition.index)", "partitions": "\(configuration.partitions)", "socket": "\(path)",
        ])
        guard case .tcp(let address, let port)? = configuration.linkListen, let tlsContext else { return [unix] }
        let tcp = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.recvAllocator, value: HTTP2LinkSettings.recvAllocator)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try LinkSocket.configure(channel)
                    // TLS beneath the HTTP/2 handler: nothing reaches the partition before the
                    // router's certificate has been checked against the cluster's CA.
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    try Self.serveLink(on: channel, host: state.value, epoch: self.configuration.claimEpoch, logger: logger)
                }
            }
            .bind(host: address, port: port)
            .get()
        logger.info("worker listening for routers on other hosts", metadata: ["address": "\(configuration.linkListen!)", "tls": "mutual"])
        return [unix, tcp]
    }

    /// Adds the link's HTTP/2 handler, serving `host`, to an accepted channel.
    private static func serveLink(on channel: Channel, host: PartitionHost, epoch: Int64?, logger: Logger) throws {
        let session = RouterLinkSession(host: host, epoch: epoch, logger: logger)
        let handler = HTTP2LinkHandler(role: .server, settings: Self.linkSettings, logger: logger)
        handler.delegate = session
        session.link = handler
        try channel.pipeline.syncOperations.addHandler(handler)
        let key = ObjectIdentifier(channel)
        host.linkChannels[key] = channel
        channel.closeFuture.whenComplete { _ in host.linkChannels[key] = nil }
    }

    /// Only the broker's own processes may link: the peer's uid (SO_PEERCRED) must be this
    /// process's, whatever the socket's permissions say. A refused connection is closed.
    static func peerIsOwnUser(_ channel: Channel, logger: Logger) -> EventLoopFuture<Void> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(LinkPeerRefused(uid: nil))
        }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(PeerCredentials.option))
        return credentials.flatMapThrowing { peer in
            guard peer.uid == getuid() else {
                logger.error("refused a link connection from another user", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
                throw LinkPeerRefused(uid: peer.uid)
            }
        }
    }

    /// `body` runs once a handover to a worker on another host (`broker cluster
    /// move-partition`) ends: with true when that worker has the partition's files (this one
    /// must let go of its claim), with false when it failed. Either way this one has drained.
    public func onHandoverEnded(_ body: @escaping @Sendable (Bool) -> Void) {
        handoverEnded.withLockedValue { $0 = body }
    }

    /// The partition's queues, messages, consumers and counters since start, read on its loop.
    public func load() async -> (queues: Int, messages: Int, consumers: Int, enqueued: UInt64, delivered: UInt64)? {
        guard let state = host.withLockedValue({ $0 }) else { return nil }
        return try? await state.eventLoop.submit {
            let engine = state.value.engine
            var messages = 0
            var consumers = 0
            for queue in engine.queueSummaries() {
                messages += queue.ready + queue.unacked
                consumers += queue.consumers
            }
            return (engine.queueCount, messages, consumers, engine.counters.enqueued, engine.counters.delivered)
        }.get()
    }

    /// Succeeds once the worker's event loop has run a task: it is not stuck (the systemd
    /// watchdog's check).
    public func liveness() async -> Bool {
        guard let state = host.withLockedValue({ $0 }) else { return false }
        return (try? await state.eventLoop.submit {}.get()) != nil
    }

    /// Drains: stops taking requests, syncs the store and sends the confirms that waited for
    /// it, closes the router's links (GOAWAY; the router nacks what is left unanswered and
    /// reconnects to the next worker), then stops the event loop.
    public func shutdown() async throws {
        if let state = host.withLockedValue({ $0 }) {
            let links = try? await state.eventLoop.submit { state.value.drain() }.get()
            for link in links ?? [] { try? await link.close() }
            logger.info("worker drained: store synced, confirms sent, router links closed", metadata: ["links": "\(links?.count ?? 0)"])
        }
        try await group.shutdownGracefully()
        try await syncThread.shutdownGracefully()
    }
}

struct LinkPeerRefused: Error {
    var uid: uid_t?
}

/// Linux's `struct ucred` (pid, uid, gid), which Glibc's module map leaves out, for SO_PEERCRED.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    /// SO_PEERCRED (asm-generic/socket.h).
    static let option: Int32 = 17
}
