// `broker cluster status` and `broker cluster down`: the running `cluster up` of a runtime
// directory, seen and stopped from another terminal.
import ArgumentParser
import Foundation

struct ClusterDirectoryOption: ParsableArguments {
    @Option(help: "The cluster's runtime directory; default: $XDG_RUNTIME_DIR/broker or /tmp/broker-<uid>.")
    var runtimeDir: String?

    var directory: ClusterDirectory { ClusterDirectory(runtimeDir ?? ClusterDirectory.defaultRuntimeDirectory) }
}

struct ClusterStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the processes of the cluster running in a runtime directory.")

    @OptionGroup var location: ClusterDirectoryOption

    func run() throws {
        let directory = location.directory
        let (pid, port) = try directory.requireRunning()
        print("broker cluster in \(directory.path): cluster up pid \(pid), AMQP port \(port)")
        var workers = 0
        var router = false
        for (child, command) in ClusterDirectory.children(of: pid) {
            let role = command.count > 1 ? command[1] : "?"
            switch role {
            case "router":
                router = true
                print("  router     pid \(child)  up")
            case "worker":
                workers += 1
                let partition = ClusterDirectory.partition(of: command).map(String.init) ?? "?"
                print("  worker \(partition.padding(toLength: 3, withPad: " ", startingAt: 0)) pid \(child)  up")
            default:
                continue
            }
        }
        guard router else {
            print("  router     not running (restarting?)")
            throw ExitCode.failure
        }
        print("  \(workers) workers up")
    }
}

struct ClusterDownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Stop the cluster running in a runtime directory (as SIGTERM to its cluster up).")

    @OptionGroup var location: ClusterDirectoryOption

    @Option(help: "Seconds to wait for it to stop.")
    var timeout: Double = 30

    func run() throws {
        let directory = location.directory
        let (pid, _) = try directory.requireRunning()
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while ClusterDirectory.isAlive(pid), Date() < deadline { usleep(50_000) }
        guard !ClusterDirectory.isAlive(pid) else {
            print("the cluster (pid \(pid)) did not stop within \(Int(timeout)) s")
            throw ExitCode.failure
        }
        print("broker cluster in \(directory.path) stopped")
    }
}
