// Runs one perf scenario: topology on a control connection, consumers, then producers,
// the measurement loop with its live line, and the teardown. Every wait is bounded by the
// run's deadline and cut short by the first fatal event of any connection, so a broker
// that refuses, closes or stalls ends the run with one clear error instead of a hang.
import AMQPWire
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `broker perf` scenarios.
public struct PerfRunner: Sendable {
    public let config: PerfConfig

    public init(config: PerfConfig) { self.config = config }

    /// Runs the scenario, printing the live line every second; returns the totals.
    /// - Throws: ``PerfError`` with a one-line reason.
    public func run() async throws -> PerfSummary {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let session = PerfSession(config: config, group: group)
        do {
            let summary = try await session.run()
            try? await group.shutdownGracefully()
            return summary
        } catch {
            session.abort()
            try? await group.shutdownGracefully()
            throw session.firstFailure ?? error
        }
    }
}

/// A connection and its handler.
struct PerfConnection: Sendable {
    let handler: PerfConnectionHandler
    let channel: Channel

    /// Runs `body` on the connection's event loop.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (PerfConnectionHandler) -> T) -> EventLoopFuture<T> {
        let handler = self.handler
        return channel.eventLoop.submit { body(handler) }
    }

    /// Runs `body` on the connection's event loop and waits for its future.
    func onLoopFuture<T: Sendable>(_ body: @escaping @Sendable (PerfConnectionHandler) -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        let handler = self.handler
        return channel.eventLoop.flatSubmit { body(handler) }
    }
}

/// The state of one run (used from the runner's task only, apart from `failures`).
final class PerfSession: @unchecked Sendable {
    let config: PerfConfig
    let group: MultiThreadedEventLoopGroup
    let console: PerfConsole
    let deadline: NIODeadline
    /// The first fatal error, and what to do when it happens.
    private let failures = PerfLocked<(error: PerfError?, waiters: [@Sendable (PerfError) -> Void])>((nil, []))
    var control: PerfConnection?
    var producers: [PerfConnection] = []
    var consumers: [PerfConnection] = []

    init(config: PerfConfig, group: MultiThreadedEventLoopGroup) {
        self.config = config
        self.group = group
        self.console = PerfConsole(json: config.json)
        self.deadline = .now() + .nanoseconds(Int64(config.timeout * 1e9))
    }

    var firstFailure: PerfError? { failures.withLock { $0.error } }

    func fail(_ error: PerfError) {
        let waiters = failures.withLock { state -> [@Sendable (PerfError) -> Void] in
            guard state.error == nil else { return [] }
            state.error = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter(error) }
    }

    func checkFailure() throws {
        if let error = firstFailure { throw error }
    }

    /// Closes every socket at once (after an error).
    func abort() {
        for connection in [control].compactMap({ $0 }) + producers + consumers {
            connection.channel.close(promise: nil)
        }
    }

    /// Waits for `future`, failing on the run's first fatal error or at the deadline.
    func wait<T: Sendable>(_ future: EventLoopFuture<T>, _ what: String) async throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        let timeout = future.eventLoop.scheduleTask(deadline: deadline) {
            promise.fail(PerfError("timed out after \(PerfFormat.fixed(self.config.timeout, 0)) s waiting for \(what)"))
        }
        let already = failures.withLock { state -> PerfError? in
            if state.error == nil { state.waiters.append { promise.fail($0) } }
            return state.error
        }
        if let already { promise.fail(already) }
        defer { timeout.cancel() }
        return try await promise.futureResult.get()
    }

    /// Opens a connection and waits until its channel 1 is open.
    func connect(_ name: String) async throws -> PerfConnection {
        let loop = group.next()
        let uri = config.uri
        let handler = PerfConnectionHandler(name: name, uri: uri, eventLoop: loop, report: { [weak self] event in
            switch event {
            case .fatal(let message): self?.fail(PerfError(message))
            case .notice(let message): self?.console.notice(message)
            }
        })
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: uri.host, port: uri.port).get()
        } catch {
            throw PerfError("cannot connect to \(uri.host):\(uri.port): \(Self.describe(error))")
        }
        let connection = PerfConnection(handler: handler, channel: channel)
        try await wait(handler.ready.futureResult, "the handshake of \(name)")
        return connection
    }

    /// A synchronous call on a connection's channel 1.
    @discardableResult
    func call(_ connection: PerfConnection, _ method: AMQPMethod) async throws -> AMQPMethod {
        try await wait(connection.onLoopFuture { $0.call(method) }, "\(method.name)-ok from \(connection.handler.name)")
    }

    static func describe(_ error: Error) -> String {
        if let connectionError = error as? NIOConnectionError, let first = connectionError.connectionErrors.first {
            if let io = first.error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
            return "\(first.error)"
        }
        return "\(error)"
    }
}
