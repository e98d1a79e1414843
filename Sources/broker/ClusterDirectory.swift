// What `cluster up` leaves in its runtime directory for other terminals: `cluster.pid` holds
// its pid and AMQP port while it runs, so that `cluster status` and `cluster down` find it.
import ArgumentParser
import Foundation

struct ClusterDirectory {
    let path: String
    init(_ path: String) { self.path = path }

    /// $XDG_RUNTIME_DIR/broker, or /tmp/broker-<uid>.
    static var defaultRuntimeDirectory: String {
        ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].map { "\($0)/broker" } ?? "/tmp/broker-\(getuid())"
    }

    var pidFile: String { path + "/cluster.pid" }

    func recordRunning(port: Int) {
        try? "\(getpid()) \(port)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
    }

    func recordStopped() { unlink(pidFile) }

    /// The running `cluster up` of this directory: its pid and port, or nil.
    func running() -> (pid: Int32, port: Int)? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return nil }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let pid = Int32(fields[0]), let port = Int(fields[1]), Self.isAlive(pid) else { return nil }
        return (pid, port)
    }

    /// The running `cluster up` of this directory, or (printing so) exit 1.
    func requireRunning() throws -> (pid: Int32, port: Int) {
        guard let running = running() else {
            print("no cluster is running in \(path)")
            throw ExitCode.failure
        }
        return running
    }

    /// The partition of a child's command line `broker worker --partition N …`; nil for others.
    static func partition(of command: [String]) -> Int? {
        guard command.count > 1, command[1] == "worker", let at = command.firstIndex(of: "--partition"),
              command.indices.contains(at + 1) else { return nil }
        return Int(command[at + 1])
    }

    /// Whether `pid` runs (a zombie, ended but not yet reaped by its parent, does not).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// The child processes of `pid` as (pid, command line), from /proc.
    static func children(of pid: Int32) -> [(pid: Int32, command: [String])] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [(Int32, [String])] = []
        for entry in entries {
            guard let child = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // "pid (comm) state ppid …": the ppid is the second field after the command.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == pid,
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            found.append((child, cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }))
        }
        return found.sorted { $0.0 < $1.0 }
    }
}
