import ArgumentParser
import ClusterCoordination
import Foundation
import LinkTransport
import Logging
import NIOCore
import RouterCore
import RouterServer

struct RouterOptions: ParsableArguments {
    @Option(help: "Address to listen on for AMQP clients; default: 0.0.0.0.")
    var host: String?

    @Option(help: "AMQP port; default: 5672.")
    var port: Int?

    @Option(help: "Router event loops (threads); default: the number of cores.")
    var eventLoops: Int?

    @Option(help: "Heartbeat interval in seconds proposed to clients (0 disables); default: 60.")
    var heartbeat: Int?

    @Option(help: "A user as name:password or name:password:tag,tag (tags as RabbitMQ's, e.g. administrator); repeat for more. Default: guest:guest:administrator.")
    var user: [String] = []

    @Option(help: "A user who may log in only from this host (RabbitMQ's loopback_users); repeat for more, \"none\" for nobody. Default: guest.")
    var loopbackUser: [String] = []

    @Flag(help: "Serve /metrics, /health, the management API and the dashboard over HTTP.")
    var enableTelemetry = false

    @Option(help: "Address of the telemetry endpoint (with --enable-telemetry); default: 127.0.0.1 (0.0.0.0 for a remote Prometheus).")
    var telemetryHost: String?

    @Option(help: "Port of the telemetry endpoint (with --enable-telemetry); default: 9419.")
    var telemetryPort: Int?

    @Option(help: "Free bytes below which the disk alarm blocks publishers (RabbitMQ's disk_free_limit); default: 50000000.")
    var diskFreeLimit: Int?

    @Option(help: "Memory alarm: the router and workers together may use this fraction of physical memory (at most 1), or this many bytes (above 1), before publishers are blocked (RabbitMQ's vm_memory_high_watermark); 0 disables. Default: 0.4.")
    var memoryHighWatermark: Double?

    @Option(help: "Client connections the router takes at most (RabbitMQ's connection_max); more are closed at once. Default: no limit.")
    var connectionMax: Int?

    @Option(help: "The largest message body a publish may carry, in bytes (RabbitMQ's max_message_size); at most 255 MiB. Default: 128 MiB.")
    var maxMessageSize: Int?

    @Option(help: "Port of the TLS (amqps) listener (RabbitMQ's 5671); needs --tls-cert-file and --tls-key-file. Default: none.")
    var tlsPort: Int?

    @Option(help: "The server's certificate chain (PEM).")
    var tlsCertFile: String?

    @Option(help: "The server's private key (PEM).")
    var tlsKeyFile: String?

    @Option(help: "CA certificates (PEM) client certificates must chain to.")
    var tlsCAFile: String?

    @Option(help: "verify_peer: ask clients for a certificate and check it; default: verify_none.")
    var tlsVerify: String?

    @Flag(help: "With verify_peer, refuse clients without a certificate.")
    var tlsFailIfNoPeerCert = false

    @Option(help: "A TLS version allowed (tlsv1.2, tlsv1.3); repeat for more. Default: tlsv1.2 and tlsv1.3.")
    var tlsVersion: [String] = []

    @Option(help: "The user name of a client certificate for SASL EXTERNAL: distinguished_name (default) or common_name.")
    var sslCertLoginFrom: String?

    @Flag(help: "Serve the telemetry port over HTTPS with the TLS certificate and key.")
    var telemetryTLS = false

    /// The flags given, as a `broker router` command line: what `cluster up` passes on, so
    /// that its router reads the rest from the same file and environment (and a reload can
    /// change what no flag fixed).
    var givenArguments: [String] {
        var arguments: [String] = []
        if let host { arguments += ["--host", host] }
        if let port { arguments += ["--port", "\(port)"] }
        if let eventLoops { arguments += ["--event-loops", "\(eventLoops)"] }
        if let heartbeat { arguments += ["--heartbeat", "\(heartbeat)"] }
        for user in user { arguments += ["--user", user] }
        for user in loopbackUser { arguments += ["--loopback-user", user] }
        if enableTelemetry { arguments.append("--enable-telemetry") }
        if let telemetryHost { arguments += ["--telemetry-host", telemetryHost] }
        if let telemetryPort { arguments += ["--telemetry-port", "\(telemetryPort)"] }
        if let diskFreeLimit { arguments += ["--disk-free-limit", "\(diskFreeLimit)"] }
        if let memoryHighWatermark { arguments += ["--memory-high-watermark", "\(memoryHighWatermark)"] }
        if let maxMessageSize { arguments += ["--max-message-size", "\(maxMessageSize)"] }
        if let connectionMax { arguments += ["--connection-max", "\(connectionMax)"] }
        if let tlsPort { arguments += ["--tls-port", "\(tlsPort)"] }
        if let tlsCertFile { arguments += ["--tls-cert-file", tlsCertFile] }
        if let tlsKeyFile { arguments += ["--tls-key-file", tlsKeyFile] }
        if let tlsCAFile { arguments += ["--tls-ca-file", tlsCAFile] }
        if let tlsVerify { arguments += ["--tls-verify", tlsVerify] }
        if tlsFailIfNoPeerCert { arguments.append("--tls-fail-if-no-peer-cert") }
        for version in tlsVersion { arguments += ["--tls-version", version] }
        if let sslCertLoginFrom { arguments += ["--ssl-cert-login-from", sslCertLoginFrom] }
        if telemetryTLS { arguments.append("--telemetry-tls") }
        return arguments
    }

    /// The router's settings from these flags, the environment and the configuration file.
    struct Resolved {
        var host: String
        var port: Int
        var eventLoops: Int
        var heartbeat: UInt16
        var users: [ConfiguredUser]
        var loopbackUsers: Set<String>
        var enableTelemetry: Bool
        var telemetryHost: String
        var telemetryPort: Int
        var diskFreeLimit: UInt64
        var memoryHighWatermark: Double
        var maxMessageSize: Int
        var connectionMax: Int?
        var tls: TLSSettings?
        var telemetryTLS: Bool
    }

    func resolve(_ config: BrokerConfig) throws -> Resolved {
        Resolved(
            host: try config.text(.host, flag: host) ?? "0.0.0.0",
            port: try config.integer(.port, flag: port) ?? 5672,
            eventLoops: try config.integer(.eventLoops, flag: eventLoops) ?? ProcessInfo.processInfo.activeProcessorCount,
            heartbeat: UInt16(try config.integer(.heartbeat, flag: heartbeat) ?? 60),
            users: try Self.configuredUsers(try config.texts(.users, flag: user)),
            loopbackUsers: Self.loopbackUsers(try config.texts(.loopbackUsers, flag: loopbackUser, default: ["guest"])),
            enableTelemetry: try config.flag(.enableTelemetry, flag: enableTelemetry),
            telemetryHost: try config.text(.telemetryHost, flag: telemetryHost) ?? "127.0.0.1",
            telemetryPort: try config.integer(.telemetryPort, flag: telemetryPort) ?? 9419,
            diskFreeLimit: UInt64(try config.integer(.diskFreeLimit, flag: diskFreeLimit) ?? 50_000_000),
            memoryHighWatermark: try config.number(.memoryHighWatermark, flag: memoryHighWatermark) ?? 0.4,
            maxMessageSize: try config.integer(.maxMessageSize, flag: maxMessageSize) ?? RouterConfiguration.defaultMaxMessageSize,
            connectionMax: try config.integer(.connectionMax, flag: connectionMax),
            tls: try tlsSettings(config),
            telemetryTLS: try config.flag(.telemetryTLS, flag: telemetryTLS))
    }

    /// The TLS settings, when a TLS port is given or the telemetry port is to use TLS (no
    /// amqps listener then); the certificate and key must be named.
    func tlsSettings(_ config: BrokerConfig) throws -> TLSSettings? {
        let port = try config.integer(.tlsPort, flag: tlsPort)
        guard try port != nil || config.flag(.telemetryTLS, flag: telemetryTLS) else { return nil }
        guard let certificate = try config.text(.tlsCertFile, flag: tlsCertFile) else { throw BrokerConfig.missing(.tlsCertFile) }
        guard let key = try config.text(.tlsKeyFile, flag: tlsKeyFile) else { throw BrokerConfig.missing(.tlsKeyFile) }
        let verifyPeer = try config.text(.tlsVerify, flag: tlsVerify) == "verify_peer"
        let caFile = try config.text(.tlsCAFile, flag: tlsCAFile)
        // Without a CA file client certificates would be checked against the system's store.
        if verifyPeer, caFile == nil { throw BrokerConfig.missing(.tlsCAFile) }
        return TLSSettings(port: port, certificateFile: certificate, keyFile: key, caFile: caFile, verifyPeer: verifyPeer,
                           failIfNoPeerCertificate: try config.flag(.tlsFailIfNoPeerCert, flag: tlsFailIfNoPeerCert),
                           versions: try config.texts(.tlsVersions, flag: tlsVersion, default: ["tlsv1.2", "tlsv1.3"]),
                           login: CertificateLogin(rawValue: try config.text(.sslCertLoginFrom, flag: sslCertLoginFrom)
                                                   ?? CertificateLogin.distinguishedName.rawValue) ?? .distinguishedName)
    }

    /// Users given as name:password or name:password:tag,tag.
    static func configuredUsers(_ users: [String]) throws -> [ConfiguredUser] {
        try users.map { entry in
            let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, !parts[0].isEmpty else {
                throw BrokerConfig.Invalid(description: "a user is name:password or name:password:tags, got '\(entry)'")
            }
            return ConfiguredUser(name: parts[0], password: parts[1],
                                  tags: parts.count > 2 ? parts[2].split(separator: ",").map(String.init) : [])
        }
    }

    /// Those who may log in only from this host ("none" for nobody).
    static func loopbackUsers(_ names: [String]) -> Set<String> {
        names == ["none"] ? [] : Set(names)
    }
}

struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Run the router: accepts AMQP connections and forwards to the workers over HTTP/2 Unix sockets.")

    @Option(help: "P=HOST:PORT: partition P's worker is on another host, reached over TCP with mutual TLS (the --link-* files); repeat for more. The others are this host's.")
    var workerLink: [String] = []

    @OptionGroup var linkTLS: LinkTLSOptions
    @OptionGroup var coordination: CoordinationOptions
    @OptionGroup var member: ClusterMemberOptions
    @OptionGroup var router: RouterOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var file: ConfigFileOption

    func run() async throws {
        let (member, router, level, hosts) = try await file.settings(of: "router") { config in
            let member = try self.member.resolve(config)
            return (member, try self.router.resolve(config), try logging.level(config), try severalHosts(config, partitions: member.partitions))
        }
        let logger = logging.bootstrap(label: "broker.router", level: level)
        ProcessSupport.exitWithParent(self.member.parentPid)
        var membership: RouterMembership?
        do {
            var configuration = RouterConfiguration(
                host: router.host, port: router.port, partitions: member.partitions, runtimeDirectory: member.runtimeDir,
                eventLoops: router.eventLoops, heartbeatSeconds: router.heartbeat,
                diskWatch: DiskWatch(path: member.dataDirectory, freeLimit: router.diskFreeLimit),
                telemetryPort: router.enableTelemetry ? router.telemetryPort : nil)
            configuration.dataDirectory = member.dataDirectory
            configuration.users = router.users
            configuration.tls = router.tls
            configuration.telemetryTLS = router.telemetryTLS
            configuration.loopbackUsers = router.loopbackUsers
            configuration.memoryHighWatermark = router.memoryHighWatermark
            configuration.maxMessageSize = router.maxMessageSize
            configuration.telemetryHost = router.telemetryHost
            configuration.maxConnections = router.connectionMax
            configuration.remoteWorkers = hosts.remoteWorkers
            configuration.linkTLS = hosts.tls
            let map = try await readPartitionMap(hosts, partitions: member.partitions, logger: logger)
            if let map {
                configuration.remoteWorkers.merge(map.remote) { _, fromMap in fromMap }
                configuration.workerEpochs = map.epochs
                configuration.ownerlessWorkers = map.ownerless
                configuration.sharedTopology = EtcdTopology(etcd: map.etcd, key: map.keys.topology)
                let serial = try await RouterSerial.next(keys: map.keys, etcd: map.etcd)
                configuration.connectionIDBase = serial << 40  // 2^40 connections a start, 2^24 starts
                membership = try await joinRouters(etcd: map.etcd, keys: map.keys, serial: serial,
                                                   coordination: hosts.coordination, logger: logger)
                membership?.keepAlive(logger: logger)
            }
            let termination = ProcessSupport.catchTermination()
            let server = try RouterServer(configuration: configuration, logger: logger)
            let (file, options, logging) = (self.file, self.router, self.logging)
            ProcessSupport.onReload {
                await Reload.apply(file: file, logging: logging, logger: logger) { config in
                    let resolved = try options.resolve(config)
                    server.reloadUsers(resolved.users, loopbackUsers: resolved.loopbackUsers)
                    return ["users": "\(resolved.users.count)"]
                }
            }
            let channel = try await server.start()
            let following = map.map { map in
                PartitionMap.follow(keys: map.keys, etcd: map.etcd, from: map.revision, logger: logger) { partition, owner in
                    guard let owner else { return }  // its claim ended: the link waits at the last address
                    switch PartitionMap.reach(owner, from: hosts.coordination.node) {
                    case .local: server.relocateWorker(partition, to: nil, epoch: owner.epoch)
                    case .remote(let endpoint): server.relocateWorker(partition, to: endpoint, epoch: owner.epoch)
                    case .unreachable: logger.warning("etcd: a partition's owner has no address this router can reach",
                                                      metadata: ["partition": "\(partition)", "node": "\(owner.node)"])
                    }
                }
            }
            ProcessSupport.report("ready router \(router.host):\(channel.localAddress?.port ?? router.port)")
            ProcessSupport.notifySystemd("READY=1\nSTATUS=serving AMQP on port \(channel.localAddress?.port ?? router.port)")
            ProcessSupport.startWatchdog { await server.liveness() }
            await termination.wait()
            ProcessSupport.notifySystemd("STOPPING=1")
            logger.info("router stopping: closing client connections (320 CONNECTION_FORCED)")
            following?.cancel()
            try? await channel.close()
            let left = await server.closeClients(timeout: .seconds(5))
            if left > 0 { logger.warning("router stopping with \(left) client connections still open") }
            try? await server.shutdown()
            await membership?.leave()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            await membership?.leave()
            ProcessSupport.report("error: port \(router.port) on \(router.host) is already in use")
            throw ExitCode.failure
        } catch {
            await membership?.leave()
            ProcessSupport.report("error: router: \(error)")
            throw ExitCode.failure
        }
    }
}
