// `broker cluster join --etcd URL`: this host joins a cluster of several hosts (issue 18,
// Docs/scale-out.md) with a router and workers for some of its partitions, supervised as
// `cluster up` supervises its own. The partition count is the cluster's, kept in etcd by the
// first host that joins; a host given another is refused.
import ArgumentParser
import ClusterCoordination
import Foundation
import LinkTransport

struct ClusterJoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join a cluster of several hosts (etcd): start this host's router and workers for some of its partitions.")

    @Option(help: "The cluster's partition count, fixed when its first host joined.")
    var partitions: Int?

    @Option(help: "The partitions this host serves, e.g. 0,3; default: every partition without a worker in the map, or with one of this node's.")
    var serve: String?

    @Option(help: "Where this host's workers take routers of other hosts, e.g. 10.0.0.2:5690: the worker of partition P listens on PORT+P. Needs the --link-* files.")
    var linkListen: String?

    @OptionGroup var supervision: SupervisionOptions
    @OptionGroup var coordination: CoordinationOptions
    @OptionGroup var linkTLS: LinkTLSOptions
    @OptionGroup var router: RouterOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var file: ConfigFileOption

    func run() async throws {
        let config: BrokerConfig
        let plan: Plan
        do {
            config = try await file.load()
            plan = try await self.plan(config)
        } catch let error as BrokerConfig.Invalid {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        } catch {
            FileHandle.standardError.write(Data("error: cluster join: \(error)\n".utf8))
            throw ExitCode.failure
        }
        var common = ["--partitions", "\(plan.partitions)", "--runtime-dir", plan.supervision.runtime, "--data-dir", plan.supervision.data,
                      "--etcd", plan.coordination.etcd!, "--cluster-name", plan.coordination.clusterName,
                      "--node-name", plan.coordination.node, "--etcd-lease-ttl", "\(plan.coordination.leaseTTL)"]
        if let path = file.config { common += ["--config", path] }
        if let level = logging.logLevel { common += ["--log-level", level] }
        let tlsFlags = ["--link-cert-file", plan.tls.certificateFile, "--link-key-file", plan.tls.keyFile, "--link-ca-file", plan.tls.caFile]
        var workerFlags = tlsFlags
        if let consumerTimeout = worker.consumerTimeout { workerFlags += ["--consumer-timeout", "\(consumerTimeout)"] }
        let listen = plan.listen
        let worker: @Sendable (Int) -> [String] = { [workerFlags, common] partition in
            // A port per partition, not per position: the same partition keeps its address
            // (a worker restarted at its old address waits out its own claim).
            ["worker", "--partition", "\(partition)", "--link-listen", "\(listen.host):\(listen.port + partition)"] + workerFlags + common
        }
        var children = plan.served.map { (name: "worker \($0)", arguments: worker($0)) }
        children.append((name: "router", arguments: ["router"] + router.givenArguments + tlsFlags + common))
        let resolved = try router.resolve(config)
        try await plan.supervision.run(children, routerPort: resolved.port,
                 ready: "broker cluster join: node '\(plan.coordination.node)' serves partitions \(plan.served.map(String.init).joined(separator: ",")) of \(plan.partitions) and a router on port \(resolved.port) (cluster '\(plan.coordination.clusterName)' in etcd at \(plan.coordination.etcd!)); Ctrl-C stops this host") { supervisor in
            // Partitions moved here later (broker cluster move-partition P --to NODE), and the
            // copies of those moved away.
            let (keys, etcd) = (ClusterKeys(cluster: plan.coordination.clusterName), EtcdClient(endpoint: plan.coordination.etcd!))
            PartitionMoves.follow(keys: keys, etcd: etcd, node: plan.coordination.node, supervisor: supervisor, worker: worker)
            MovedCopies.sweep(dataDirectory: plan.supervision.data, keys: keys, etcd: etcd)
        }
    }

    struct Plan {
        var partitions: Int
        var served: [Int]
        var listen: (host: String, port: Int)
        var tls: LinkTLS
        var coordination: CoordinationOptions.Resolved
        var supervision: ClusterSupervision
    }

    /// Checks the settings against each other and against the cluster in etcd.
    private func plan(_ config: BrokerConfig) async throws -> Plan {
        let coordination = try self.coordination.resolve(config)
        guard let url = coordination.etcd else { throw BrokerConfig.Invalid(description: "cluster join needs --etcd URL (or etcd in the file)") }
        guard let partitions = try config.integer(.partitions, flag: partitions), partitions > 0 else {
            throw BrokerConfig.Invalid(description: "cluster join needs --partitions N, the cluster's partition count")
        }
        // Other hosts' routers reach this host's workers only there.
        guard let text = try config.text(.linkListen, flag: linkListen) else {
            throw BrokerConfig.Invalid(description: "cluster join needs --link-listen IP:PORT, where other hosts reach this host's workers")
        }
        guard let endpoint = LinkEndpoint(parsing: text), case .tcp(let host, let port) = endpoint, port + partitions - 1 <= 65535 else {
            throw BrokerConfig.Invalid(description: "--link-listen wants IP:PORT (with PORT+\(partitions - 1) a port too), not '\(text)'")
        }
        guard let tls = try linkTLS.resolve(config) else {
            throw BrokerConfig.Invalid(description: "cluster join needs --link-cert-file, --link-key-file and --link-ca-file: links between hosts are mutual TLS")
        }
        let listen = (host: host, port: port)
        let etcd = EtcdClient(endpoint: url)
        let keys = ClusterKeys(cluster: coordination.clusterName)
        try await PartitionCount.check(partitions, keys: keys, etcd: etcd)
        var served: [Int]
        if let list = try config.text(.serve, flag: serve) {
            served = try list.split(separator: ",").map { item in
                guard let partition = Int(item.trimmingCharacters(in: .whitespaces)), (0..<partitions).contains(partition) else {
                    throw BrokerConfig.Invalid(description: "--serve wants partitions in 0..<\(partitions), not '\(item)'")
                }
                return partition
            }
        } else {
            // With this node's own: after a crash of this host, its workers wait out their
            // old claims and take their partitions back.
            let owners = try await PartitionMap.read(keys: keys, etcd: etcd).owners
            served = (0..<partitions).filter { owners[$0] == nil || owners[$0]?.node == coordination.node }
        }
        served = Array(Set(served)).sorted()
        guard !served.isEmpty else {
            throw BrokerConfig.Invalid(description: "every partition of cluster '\(coordination.clusterName)' has a worker: name this host's with --serve")
        }
        return Plan(partitions: partitions, served: served, listen: listen, tls: tls, coordination: coordination,
                    supervision: try supervision.resolve(config))
    }
}
