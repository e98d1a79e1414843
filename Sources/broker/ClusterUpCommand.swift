// `broker cluster up`: starts N workers and the router as child processes of this one,
// waits until each says it is ready, prints where to connect, restarts a child that dies,
// and stops them all on SIGINT/SIGTERM.
import ArgumentParser
import Foundation

struct ClusterUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start a router and N workers on this host and supervise them until SIGINT/SIGTERM.")

    @Option(help: "Number of worker processes (partitions); default: the number of cores.")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Private directory for the workers' sockets; default: $XDG_RUNTIME_DIR/broker or /tmp/broker-<uid>.")
    var runtimeDir: String?

    @Option(help: "Directory of the cluster's durable state (message stores, topology); default: <runtime-dir>/data.")
    var dataDir: String?

    @Option(help: "Seconds to wait for each process to become ready (a worker recovers its message store first: about 5 s per million messages).")
    var startTimeout: Double = 600

    @OptionGroup var router: RouterOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }

    func run() async throws {
        let runtime = runtimeDir ?? ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].map { "\($0)/broker" }
            ?? "/tmp/broker-\(getuid())"
        try ProcessSupport.prepareRuntimeDirectory(runtime)
        let supervisor = Supervisor(startTimeout: startTimeout)
        var common = ["--log-level", logging.logLevel, "--parent-pid", "\(getpid())"]
        common += ["--partitions", "\(workers)", "--runtime-dir", runtime, "--data-dir", dataDir ?? runtime + "/data"]
        do {
            for index in 0..<workers {
                try supervisor.start(name: "worker \(index)", arguments: ["worker", "--partition", "\(index)"] + worker.arguments + common)
            }
            try supervisor.start(name: "router", arguments: ["router"] + router.arguments + common)
        } catch {
            supervisor.stopAll()
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let host = router.host == "0.0.0.0" ? "localhost" : router.host
        ProcessSupport.report("broker cluster up: \(workers) workers + router; connect to amqp://guest:guest@\(host):\(router.port)/ (runtime dir \(runtime)); Ctrl-C stops it")
        supervisor.superviseRestarts()
        await ProcessSupport.waitForTermination()
        ProcessSupport.report("broker cluster stopping")
        supervisor.stopAll()
    }
}

/// The child processes of `cluster up`.
final class Supervisor: @unchecked Sendable {
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    private let startTimeout: Double
    private let lock = NSLock()
    private var children: [(name: String, arguments: [String], process: Process)] = []
    private var stopping = false
    private var supervising = false

    init(startTimeout: Double) { self.startTimeout = startTimeout }

    /// Launches one child and waits for its "ready" (or "error: …") line.
    func start(name: String, arguments: [String]) throws {
        let process = Process()
        // The resolved path, so that `ps` shows "broker worker …" rather than "exe".
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let ready = DispatchSemaphore(value: 0)
        let firstLine = LineBox()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                ready.signal()
                return
            }
            if firstLine.append(data) { ready.signal() }
        }
        process.terminationHandler = { [weak self] ended in
            self?.childExited(name: name, arguments: arguments, process: ended)
        }
        try process.run()
        lock.withLock { children.append((name, arguments, process)) }
        guard ready.wait(timeout: .now() + startTimeout) == .success else {
            throw StartFailure(description: "\(name) did not become ready within \(Int(startTimeout))s")
        }
        let line = firstLine.line ?? ""
        guard line.hasPrefix("ready") else {
            let reason = line.hasPrefix("error: ") ? String(line.dropFirst(7)) : "\(name) exited before it was ready"
            throw StartFailure(description: reason)
        }
    }

    func superviseRestarts() { lock.withLock { supervising = true } }

    private func childExited(name: String, arguments: [String], process: Process) {
        let restart: Bool = lock.withLock {
            children.removeAll { $0.process === process }
            return supervising && !stopping
        }
        guard restart else { return }
        FileHandle.standardError.write(Data("broker: \(name) exited (status \(process.terminationStatus)); restarting\n".utf8))
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
            do {
                try self.start(name: name, arguments: arguments)
            } catch {
                FileHandle.standardError.write(Data("broker: restarting \(name) failed: \(error)\n".utf8))
            }
        }
    }

    /// The router first (it closes every client connection with 320 and waits up to 5 s for
    /// them), then the workers (each syncs its store); SIGKILL to any still running after
    /// its grace.
    func stopAll() {
        let running: [(name: String, process: Process)] = lock.withLock {
            stopping = true
            return children.map { ($0.name, $0.process) }
        }
        let router = running.filter { $0.name == "router" }.map(\.process)
        let workers = running.filter { $0.name != "router" }.map(\.process)
        stop(router, grace: 8)
        stop(workers, grace: 5)
    }

    private func stop(_ processes: [Process], grace: TimeInterval) {
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while processes.contains(where: \.isRunning), Date() < deadline { usleep(20_000) }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
    }
}

/// Collects a child's stdout until the first full line.
private final class LineBox: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private(set) var line: String?

    /// Returns true once, when the first line is complete.
    func append(_ data: Data) -> Bool {
        lock.withLock {
            guard line == nil else { return false }
            buffer.append(data)
            guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else { return false }
            line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
            return true
        }
    }
}
