// Rolling restarts: `broker cluster restart-worker N` and `broker cluster restart` ask the
// running `cluster up` (through its runtime directory: a request file, then SIGUSR1) to
// replace workers one at a time, each drained before it exits and ready before the next
// goes. Client connections stay open throughout (invariant 9); `cluster up` reports each step
// in a result file that the command prints as it grows.
import ArgumentParser
import BrokerManagement
import BrokerTelemetry
import Foundation
import RouterServer

extension ClusterDirectory {
    var restartRequestFile: String { path + "/restart.request" }
    var restartResultFile: String { path + "/restart.result" }
    /// The last line of a finished restart's result.
    static let restartDone = "done"
}

/// Serves restart requests inside `cluster up`.
final class RestartListener: @unchecked Sendable {
    private let directory: ClusterDirectory
    private let supervisor: Supervisor
    private let queue = DispatchQueue(label: "broker.cluster.restart")
    private var source: DispatchSourceSignal?

    init(directory: ClusterDirectory, supervisor: Supervisor) {
        self.directory = directory
        self.supervisor = supervisor
    }

    func start() {
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: queue)
        source.setEventHandler { [weak self] in self?.serve() }
        source.resume()
        self.source = source
    }

    /// For a worker: whether the router says it is linked to it again on every event loop
    /// and it answers (`GET /health` on the operator socket), so that a rolling restart never
    /// has two partitions down at once.
    private func serving(_ name: String) -> (() -> Bool)? {
        guard name.hasPrefix("worker "), let index = Int(name.dropFirst(7)) else { return nil }
        let router = OperatorClient(socketPath: "\(directory.path)/\(RouterServer.operatorSocketName)")
        return {
            guard let response = try? router.request("GET", "/health"),
                  let health = try? JSONDecoder().decode(JSON.self, from: response.body) else { return false }
            return health["processes"]?.arrayValue?.contains {
                $0["process"]?.stringValue == "worker-\(index)" && $0["status"]?.stringValue == "up"
            } ?? false
        }
    }

    /// One request: the names of the children to replace, one per line, in order.
    private func serve() {
        guard let text = try? String(contentsOfFile: directory.restartRequestFile, encoding: .utf8) else { return }
        unlink(directory.restartRequestFile)
        var result = ""
        func report(_ line: String) {
            result += line + "\n"
            try? result.write(toFile: directory.restartResultFile, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("broker: \(line)\n".utf8))
        }
        for name in text.split(separator: "\n").map(String.init) where !name.isEmpty {
            let started = Date()
            do {
                let (old, new) = try supervisor.replace(name, serving: serving(name))
                report("restarted \(name): pid \(old) → \(new), serving again after \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            } catch {
                report("error: restarting \(name) failed: \(error)")
                return
            }
        }
        report(ClusterDirectory.restartDone)
    }
}

/// Sends a restart request to the running cluster and prints its progress until it is done.
struct RestartClient {
    let directory: ClusterDirectory
    let timeout: Double

    func run(_ names: [String]) throws {
        let (pid, _) = try directory.requireRunning()
        unlink(directory.restartResultFile)
        try (names.joined(separator: "\n") + "\n").write(toFile: directory.restartRequestFile, atomically: true, encoding: .utf8)
        kill(pid, SIGUSR1)
        var printed = 0
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let lines = ((try? String(contentsOfFile: directory.restartResultFile, encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
            for line in lines.dropFirst(printed) where line != ClusterDirectory.restartDone { print(line) }
            printed = lines.count
            if lines.last == ClusterDirectory.restartDone { return }
            if lines.last?.hasPrefix("error: ") == true { throw ExitCode.failure }
            guard ClusterDirectory.isAlive(pid) else {
                print("cluster up (pid \(pid)) ended during the restart")
                throw ExitCode.failure
            }
            usleep(100_000)
        }
        print("the restart did not finish within \(Int(timeout)) s")
        throw ExitCode.failure
    }
}

struct ClusterRestartWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart-worker",
        abstract: "Replace one worker of the running cluster (drained, then restarted); client connections stay open.")

    @Argument(help: "The worker's partition number.")
    var partition: Int

    @OptionGroup var location: ClusterDirectoryOption

    @Option(help: "Seconds to wait for the worker to be ready again (it recovers its store first).")
    var timeout: Double = 600

    func run() throws {
        try RestartClient(directory: location.directory, timeout: timeout).run(["worker \(partition)"])
    }
}

struct ClusterRestartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart",
        abstract: "Rolling restart: replace every worker of the running cluster, one at a time, each ready before the next.")

    @OptionGroup var location: ClusterDirectoryOption

    @Option(help: "Seconds to wait for the whole restart.")
    var timeout: Double = 3600

    func run() throws {
        let directory = location.directory
        let (pid, _) = try directory.requireRunning()
        let workers = ClusterDirectory.children(of: pid).compactMap { ClusterDirectory.partition(of: $0.command) }.sorted()
        try RestartClient(directory: directory, timeout: timeout).run(workers.map { "worker \($0)" })
    }
}
