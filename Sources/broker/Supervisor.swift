// The child processes of `cluster up`: started one by one until each says it is ready,
// restarted with back-off when one ends on its own, and stopped router first.
import Foundation

final class Supervisor: @unchecked Sendable {
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    private let startTimeout: Double
    private let lock = NSLock()
    private var policy: RestartPolicy
    private var children: [(name: String, arguments: [String], process: Process)] = []
    private var stopping = false
    private var supervising = false
    /// Children being replaced on request: their end is not a crash.
    private var replacing: Set<ObjectIdentifier> = []

    init(startTimeout: Double, policy: RestartPolicy) {
        self.startTimeout = startTimeout
        self.policy = policy
    }

    /// Launches one child and waits for its "ready" (or "error: …") line; one that does not
    /// say it in time is killed. Every child also gets `--parent-pid`, so it ends with us.
    func start(name: String, arguments: [String]) throws {
        let process = Process()
        // The resolved path, so that `ps` shows "broker worker …" rather than "exe".
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments + ["--parent-pid", "\(getpid())"]
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
        // Listed before it runs: one that ends at once is then removed, not left behind.
        lock.withLock { children.append((name, arguments, process)) }
        do {
            try process.run()
        } catch {
            lock.withLock { children.removeAll { $0.process === process } }
            throw error
        }
        guard ready.wait(timeout: .now() + startTimeout) == .success else {
            kill(process.processIdentifier, SIGKILL)
            throw StartFailure(description: "\(name) did not become ready within \(Int(startTimeout))s")
        }
        let line = firstLine.line ?? ""
        guard line.hasPrefix("ready") else {
            let reason = line.hasPrefix("error: ") ? String(line.dropFirst(7)) : "\(name) exited before it was ready"
            throw StartFailure(description: reason)
        }
    }

    func superviseRestarts() { lock.withLock { supervising = true } }

    /// Whether a child named `name` runs.
    func isRunning(_ name: String) -> Bool { lock.withLock { children.contains { $0.name == name } } }

    /// A child ended on its own: restarted after a back-off that doubles with each crash in
    /// a short time, or, after too many, the whole cluster stops with a failure (a partition
    /// that cannot stay up needs an operator, not a restart loop).
    private func childExited(name: String, arguments: [String], process: Process) {
        let final = process.terminationReason == .exit ? WorkerExit.final(process.terminationStatus) : nil
        let decision: RestartPolicy.Decision? = lock.withLock {
            children.removeAll { $0.process === process }
            guard replacing.remove(ObjectIdentifier(process)) == nil, supervising, !stopping, final == nil else { return nil }
            return policy.crashed(name, at: Date().timeIntervalSince1970)
        }
        if let final { ProcessSupport.note("broker: \(name) \(final); not restarted") }
        guard let decision else { return }
        let how = process.terminationReason == .uncaughtSignal
            ? "killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
        switch decision {
        case .restart(let delay):
            ProcessSupport.note("broker: \(name) \(how); restarting in \(String(format: "%.1f", delay)) s")
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                guard !self.lock.withLock({ self.stopping }) else { return }
                do {
                    try self.start(name: name, arguments: arguments)
                } catch {
                    ProcessSupport.note("broker: restarting \(name) failed: \(error)")
                }
            }
        case .giveUp(let crashes, let window):
            ProcessSupport.note("broker: \(name) \(how); it ended \(crashes) times within \(Int(window)) s: giving up and stopping the cluster")
            DispatchQueue.global().async {
                self.stopAll()
                exit(EXIT_FAILURE)
            }
        }
    }

    /// Replaces the running child `name`: SIGTERM (a worker drains: it stops taking requests,
    /// syncs its store and sends the confirms that waited for it), SIGKILL after `grace`, then
    /// a new one started and waited for until ready. Returns the old and new pids.
    /// With `serving`, the new child counts as ready only once that also says so (polled).
    func replace(_ name: String, serving: (() -> Bool)? = nil, grace: TimeInterval = 15) throws -> (old: Int32, new: Int32) {
        let found: (arguments: [String], process: Process)? = lock.withLock {
            guard !stopping, let child = children.first(where: { $0.name == name }) else { return nil }
            replacing.insert(ObjectIdentifier(child.process))
            return (child.arguments, child.process)
        }
        guard let (arguments, process) = found else { throw StartFailure(description: "\(name) is not running") }
        let old = process.processIdentifier
        stop([process], grace: grace)
        guard !lock.withLock({ stopping }) else { throw StartFailure(description: "the cluster is stopping") }
        try start(name: name, arguments: arguments)
        if let serving {
            let deadline = Date().addingTimeInterval(startTimeout)
            while !serving() {
                guard Date() < deadline else { throw StartFailure(description: "\(name) did not serve again within \(Int(startTimeout)) s") }
                usleep(50_000)
            }
        }
        let new = lock.withLock { children.last { $0.name == name }?.process.processIdentifier } ?? 0
        return (old, new)
    }


    /// Sends `signal` to every running child.
    func signalAll(_ signal: Int32) {
        for process in lock.withLock({ children.map(\.process) }) where process.isRunning {
            kill(process.processIdentifier, signal)
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
