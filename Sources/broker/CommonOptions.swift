// Options and process plumbing shared by the subcommands.
import ArgumentParser
import Atomics
import Foundation
import Logging

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical; default: info.")
    var logLevel: String?

    /// The level from the flag, the environment or the file; an unknown one is an error at
    /// start-up, never a silent default.
    func level(_ config: BrokerConfig) throws -> String {
        try config.text(.logLevel, flag: logLevel) ?? "info"
    }

    func bootstrap(label: String, level name: String) -> Logger {
        ProcessLogLevel.set(name)
        LoggingSystem.bootstrap { name in ProcessLogHandler(stream: StreamLogHandler.standardError(label: name)) }
        return Logger(label: label)
    }
}

/// The process's log level, which a reload (SIGHUP) may change: every logger reads it.
enum ProcessLogLevel {
    private static let index = ManagedAtomic<Int>(Logger.Level.allCases.firstIndex(of: .info)!)

    static var current: Logger.Level { Logger.Level.allCases[index.load(ordering: .relaxed)] }

    /// `name` is a level's name, checked by `LoggingOptions.level(_:)`.
    static func set(_ name: String) {
        guard let level = Logger.Level(rawValue: name), let at = Logger.Level.allCases.firstIndex(of: level) else { return }
        index.store(at, ordering: .relaxed)
    }
}

/// Standard error, at the process's current log level.
struct ProcessLogHandler: LogHandler {
    var stream: StreamLogHandler

    init(stream: StreamLogHandler) {
        self.stream = stream
        self.stream.logLevel = .trace  // the level is checked here, not there
    }

    var logLevel: Logger.Level {
        get { ProcessLogLevel.current }
        set {}  // one level for the whole process
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) { stream.log(event: event) }
}

/// What every process of a cluster must agree on.
struct ClusterMemberOptions: ParsableArguments {
    @Option(help: "The number of partitions (workers) in the cluster; the same for every process.")
    var partitions: Int?

    @Option(help: "Private directory (0700) holding the workers' Unix sockets, worker-<i>.sock.")
    var runtimeDir: String?

    @Option(help: "Directory of the cluster's durable state (message stores, topology); default: <runtime-dir>/data.")
    var dataDir: String?

    @Option(help: "Exit when the process with this pid is no longer our parent (used by `cluster up`).")
    var parentPid: Int32?

    struct Resolved {
        var partitions: Int
        var runtimeDir: String
        var dataDirectory: String
    }

    func resolve(_ config: BrokerConfig) throws -> Resolved {
        guard let partitions = try config.integer(.partitions, flag: partitions) else { throw BrokerConfig.missing(.partitions) }
        guard let runtimeDir = try config.text(.runtimeDir, flag: runtimeDir) else { throw BrokerConfig.missing(.runtimeDir) }
        let dataDir = try config.text(.dataDir, flag: dataDir) ?? runtimeDir + "/data"
        return Resolved(partitions: partitions, runtimeDir: runtimeDir, dataDirectory: dataDir)
    }
}

enum ProcessSupport {
    /// Creates the runtime directory private to the broker's user (0700).
    static func prepareRuntimeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(path, 0o700)
    }

    /// Tells a supervising `cluster up` that this process is ready (or why it is not).
    static func report(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// A supervisor's line to its log (standard error).
    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Tells systemd (`Type=notify` units) the process's state, e.g. "READY=1" once it
    /// really serves, "STOPPING=1" when it begins to stop: one datagram to `$NOTIFY_SOCKET`
    /// (sd_notify(3)'s protocol, no libsystemd). Nothing when the variable is not set.
    static func notifySystemd(_ state: String) {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // "@name" is an abstract socket: its first byte is NUL.
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length)
            }
        }
    }

    /// systemd's watchdog (`WatchdogSec=` sets `$WATCHDOG_USEC`): every half interval,
    /// `WATCHDOG=1` is sent if `alive` says the process's event loops all still run tasks; a
    /// process whose loop is stuck stops pinging and systemd restarts it. Nothing without
    /// the variable.
    static func startWatchdog(_ alive: @escaping @Sendable () async -> Bool) {
        guard let text = ProcessInfo.processInfo.environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return }
        let interval = max(usec / 2, 10_000) * 1_000  // nanoseconds
        Task.detached {
            while true {
                try? await Task.sleep(nanoseconds: interval)
                if await alive() { notifySystemd("WATCHDOG=1") }
            }
        }
    }

    /// Catches SIGINT and SIGTERM from now on. Called before the process says it is ready:
    /// a signal that arrives right after readiness must start a graceful stop, not kill the
    /// process by the default action.
    static func catchTermination() -> Termination {
        let termination = Termination()
        termination.start()
        return termination
    }

    /// Calls `reload` on each SIGHUP from now on (instead of SIGHUP's default, exiting).
    static func onReload(_ reload: @escaping @Sendable () async -> Void) {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "broker.reload"))
        source.setEventHandler { Task { await reload() } }
        source.resume()
        reloadSource = source
    }

    nonisolated(unsafe) static var reloadSource: DispatchSourceSignal?

    /// Exits when the parent that started us is gone, so no process outlives `cluster up`.
    static func exitWithParent(_ parent: Int32?) {
        guard let parent, parent > 1 else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler {
            if getppid() != parent { exit(0) }
        }
        timer.resume()
        parentWatch = timer
    }

    nonisolated(unsafe) static var parentWatch: DispatchSourceTimer?
}

/// SIGINT or SIGTERM, caught from `ProcessSupport.catchTermination()` on.
final class Termination: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var continuation: CheckedContinuation<Void, Never>?
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "broker.signals")

    fileprivate func start() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [self] in fire() }
            source.resume()
            sources.append(source)
        }
    }

    /// Returns once a signal came (at once if one already did).
    func wait() async {
        await withCheckedContinuation { (waiting: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if fired { return true }
                continuation = waiting
                return false
            }
            if now { waiting.resume() }
        }
    }

    private func fire() {
        let waiting: CheckedContinuation<Void, Never>? = lock.withLock {
            guard !fired else { return nil }
            fired = true
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume()
    }
}
