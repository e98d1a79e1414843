import ArgumentParser
import Foundation
import NIOCore
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

    @Option(help: "A user as name:password; repeat for more. Default: guest:guest.")
    var user: [String] = []

    @Option(help: "Directory whose file system the disk alarm watches; default: the runtime directory.")
    var dataDir: String?

    @Option(help: "Free bytes below which the disk alarm blocks publishers (RabbitMQ's disk_free_limit).")
    var diskFreeLimit: UInt64 = 50_000_000

    func users() throws -> UserDirectory {
        guard !user.isEmpty else { return UserDirectory() }
        var passwords: [String: String] = [:]
        for entry in user {
            guard let colon = entry.firstIndex(of: ":") else { throw ValidationError("--user takes name:password, got '\(entry)'") }
            passwords[String(entry[..<colon])] = String(entry[entry.index(after: colon)...])
        }
        return UserDirectory(passwords: passwords)
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
            let server = RouterServer(configuration: RouterConfiguration(
                host: router.host, port: router.port, partitions: member.partitions, runtimeDirectory: member.runtimeDir,
                eventLoops: router.eventLoops, heartbeatSeconds: router.heartbeat, users: try router.users(),
                diskWatch: DiskWatch(path: router.dataDir ?? member.runtimeDir, freeLimit: router.diskFreeLimit)),
                logger: logger)
            let channel = try await server.start()
            ProcessSupport.report("ready router \(router.host):\(channel.localAddress?.port ?? router.port)")
            await ProcessSupport.waitForTermination()
            logger.info("router stopping")
            try? await channel.close()
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
