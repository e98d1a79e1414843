import ArgumentParser
import Foundation
import NIOCore
import RouterCore
import RouterServer

struct RouterOptions: ParsableArguments {
    @Option(help: "Address to listen on for AMQP clients.")
    var host: String = "0.0.0.0"

    @Option(help: "AMQP port.")
    var port: Int = 5672

    @Option(help: "Router event loops (threads); default: the number of cores.")
    var eventLoops: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Heartbeat interval in seconds proposed to clients (0 disables).")
    var heartbeat: UInt16 = 60

    @Option(help: "A user as name:password or name:password:tag,tag (tags as RabbitMQ's, e.g. administrator); repeat for more. Default: guest:guest:administrator.")
    var user: [String] = []

    @Flag(help: "Serve /metrics, /health, the management API and the dashboard over HTTP.")
    var enableTelemetry = false

    @Option(help: "Port of the telemetry endpoint (with --enable-telemetry).")
    var telemetryPort: Int = 9419

    @Option(help: "Free bytes below which the disk alarm blocks publishers (RabbitMQ's disk_free_limit).")
    var diskFreeLimit: UInt64 = 50_000_000

    @Option(help: "Memory alarm: the router and workers together may use this fraction of physical memory (at most 1), or this many bytes (above 1), before publishers are blocked (RabbitMQ's vm_memory_high_watermark); 0 disables.")
    var memoryHighWatermark: Double = 0.4

    /// These options as a `broker router` command line (what `cluster up` passes on).
    var arguments: [String] {
        var arguments = ["--host", host, "--port", "\(port)", "--event-loops", "\(eventLoops)", "--heartbeat", "\(heartbeat)",
                         "--disk-free-limit", "\(diskFreeLimit)", "--memory-high-watermark", "\(memoryHighWatermark)"]
        for user in user { arguments += ["--user", user] }
        if enableTelemetry { arguments += ["--enable-telemetry", "--telemetry-port", "\(telemetryPort)"] }
        return arguments
    }

    func users() throws -> UserDirectory {
        guard !user.isEmpty else { return UserDirectory() }
        var passwords: [String: String] = [:]
        var tags: [String: [String]] = [:]
        for entry in user {
            let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, !parts[0].isEmpty else {
                throw ValidationError("--user takes name:password or name:password:tags, got '\(entry)'")
            }
            passwords[parts[0]] = parts[1]
            tags[parts[0]] = parts.count > 2 ? parts[2].split(separator: ",").map(String.init) : []
        }
        return UserDirectory(passwords: passwords, tags: tags)
    }
}

struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Run the router: accepts AMQP connections and forwards to the workers over HTTP/2 Unix sockets.")

    @OptionGroup var member: ClusterMemberOptions
    @OptionGroup var router: RouterOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "broker.router")
        ProcessSupport.exitWithParent(member.parentPid)
        do {
            var configuration = RouterConfiguration(
                host: router.host, port: router.port, partitions: member.partitions, runtimeDirectory: member.runtimeDir,
                eventLoops: router.eventLoops, heartbeatSeconds: router.heartbeat, users: try router.users(),
                diskWatch: DiskWatch(path: member.dataDirectory, freeLimit: router.diskFreeLimit),
                telemetryPort: router.enableTelemetry ? router.telemetryPort : nil)
            configuration.dataDirectory = member.dataDirectory
            configuration.memoryHighWatermark = router.memoryHighWatermark
            let termination = ProcessSupport.catchTermination()
            let server = try RouterServer(configuration: configuration, logger: logger)
            let channel = try await server.start()
            ProcessSupport.report("ready router \(router.host):\(channel.localAddress?.port ?? router.port)")
            ProcessSupport.notifySystemd("READY=1\nSTATUS=serving AMQP on port \(channel.localAddress?.port ?? router.port)")
            ProcessSupport.startWatchdog { await server.liveness() }
            await termination.wait()
            ProcessSupport.notifySystemd("STOPPING=1")
            logger.info("router stopping: closing client connections (320 CONNECTION_FORCED)")
            try? await channel.close()
            let left = await server.closeClients(timeout: .seconds(5))
            if left > 0 { logger.warning("router stopping with \(left) client connections still open") }
            try? await server.shutdown()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            ProcessSupport.report("error: port \(router.port) on \(router.host) is already in use")
            throw ExitCode.failure
        } catch {
            ProcessSupport.report("error: router: \(error)")
            throw ExitCode.failure
        }
    }
}
