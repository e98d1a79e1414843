// WorkerServer: one worker process. It owns one hash partition of the queues and runs it on
// a single event loop, so the partition's state needs no lock. It listens on a Unix socket
// for the router's HTTP/2 link connections; each AMQP client connection arrives as one
// stream (`POST /v1/connections/<id>`), control broadcasts go on `POST /v1/control`
// streams, and `GET /v1/health` / `GET /v1/queues` answer operators.
import BrokerModel
import LinkHTTP2
import LinkWire
import Logging
import NIOCore
import NIOPosix
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

    public init(partition: PartitionID, partitions: Int, socketPath: String,
                consumerTimeout: UInt64 = PartitionEngine.defaultConsumerTimeout) {
        self.partition = partition
        self.partitions = partitions
        self.socketPath = socketPath
        self.consumerTimeout = consumerTimeout
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
    private let logger: Logger

    public init(configuration: WorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // One thread: the partition is owned by exactly one event loop.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds the socket and starts serving; returns the listening channel.
    public func start() async throws -> Channel {
        let loop = group.next()
        let state = try await loop.submit {
            let host = PartitionHost(configuration: self.configuration, eventLoop: loop, logger: self.logger)
            host.startClock()
            return NIOLoopBound(host, eventLoop: loop)
        }.get()
        let path = configuration.socketPath
        unlink(path)  // a stale socket from a previous run
        let logger = self.logger
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let host = state.value
                    let session = RouterLinkSession(host: host, logger: logger)
                    let handler = HTTP2LinkHandler(role: .server, settings: Self.linkSettings, logger: logger)
                    handler.delegate = session
                    session.link = handler
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .get()
        chmod(path, 0o600)
        logger.info("worker listening", metadata: [
            "partition": "\(configuration.partition.index)", "partitions": "\(configuration.partitions)", "socket": "\(path)",
        ])
        return channel
    }

    public func shutdown() async throws {
        try await group.shutdownGracefully()
    }
}
