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
    var workers: Int?

    @OptionGroup var supervision: SupervisionOptions
    @OptionGroup var router: RouterOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var file: ConfigFileOption

    func run() async throws {
        let settings: (workers: Int, supervision: ClusterSupervision, router: RouterOptions.Resolved)
        do {
            let config = try await file.load()
            settings = (try config.integer(.partitions, flag: workers) ?? ProcessInfo.processInfo.activeProcessorCount,
                        try supervision.resolve(config), try router.resolve(config))
            // The children read these themselves; checked here so that a bad value stops
            // cluster up at once, naming the key, not a child later.
            _ = (try worker.consumerTimeout(config), try logging.level(config))
        } catch let error as BrokerConfig.Invalid {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let runtime = settings.supervision.runtime
        let router = settings.router
        // The children get what the cluster must agree on as flags, and the flags given here;
        // they read the rest from the same file and environment, and again on a reload.
        var common = ["--partitions", "\(settings.workers)", "--runtime-dir", runtime, "--data-dir", settings.supervision.data]
        if let path = file.config { common += ["--config", path] }
        if let level = logging.logLevel { common += ["--log-level", level] }
        let workerFlags = worker.consumerTimeout.map { ["--consumer-timeout", "\($0)"] } ?? []
        var children = (0..<settings.workers).map { index in
            (name: "worker \(index)", arguments: ["worker", "--partition", "\(index)"] + workerFlags + common)
        }
        children.append((name: "router", arguments: ["router"] + self.router.givenArguments + common))
        let host = router.host == "0.0.0.0" ? "localhost" : router.host
        try await settings.supervision.run(children, routerPort: router.port,
                 ready: "broker cluster up: \(settings.workers) workers + router; connect to amqp://guest:guest@\(host):\(router.port)/ (runtime dir \(runtime)); Ctrl-C stops it")
    }
}

/// The options of `cluster up` and `cluster join` for the processes they supervise.
struct SupervisionOptions: ParsableArguments {
    @Option(help: "Private directory for the workers' sockets; default: $XDG_RUNTIME_DIR/broker or /tmp/broker-<uid>.")
    var runtimeDir: String?

    @Option(help: "Directory of this host's durable state (message stores, topology); default: <runtime-dir>/data.")
    var dataDir: String?

    @Option(help: "Seconds to wait for each process to become ready (a worker recovers its message store first: about 5 s per million messages); default: 600.")
    var startTimeout: Double?

    @Option(help: "Restarts of one process within 60 s after which this host's processes are all stopped; default: 5.")
    var maxRestarts: Int?

    /// From the flags, the environment or the file.
    func resolve(_ config: BrokerConfig) throws -> ClusterSupervision {
        let runtime = try config.text(.runtimeDir, flag: runtimeDir) ?? ClusterDirectory.defaultRuntimeDirectory
        return ClusterSupervision(runtime: runtime, data: try config.text(.dataDir, flag: dataDir) ?? runtime + "/data",
                                  startTimeout: try config.number(.startTimeout, flag: startTimeout) ?? 600,
                                  maxRestarts: try config.integer(.maxRestarts, flag: maxRestarts) ?? 5)
    }
}

/// What `cluster up` and `cluster join` share: their processes started as children of this
/// one (each waited for until it says it is ready), restarted when they die, signalled on a
/// reload, and stopped on SIGINT/SIGTERM.
struct ClusterSupervision {
    var runtime: String
    var data: String
    var startTimeout: Double
    var maxRestarts: Int

    /// `running` gets the supervisor once every child is ready, e.g. to start more later.
    func run(_ children: [(name: String, arguments: [String])], routerPort: Int, ready: String,
             running: ((Supervisor) -> Void)? = nil) async throws {
        try ProcessSupport.prepareRuntimeDirectory(runtime)
        let termination = ProcessSupport.catchTermination()
        let supervisor = Supervisor(startTimeout: startTimeout, policy: RestartPolicy(maxRestarts: maxRestarts))
        do {
            for child in children {
                try supervisor.start(name: child.name, arguments: child.arguments)
            }
        } catch {
            supervisor.stopAll()
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let directory = ClusterDirectory(runtime)
        let restarts = RestartListener(directory: directory, supervisor: supervisor)
        restarts.start()
        directory.recordRunning(port: routerPort)
        ProcessSupport.report(ready)
        supervisor.superviseRestarts()
        running?(supervisor)
        ProcessSupport.onReload {
            FileHandle.standardError.write(Data("broker: SIGHUP: every process reads its configuration again\n".utf8))
            supervisor.signalAll(SIGHUP)
        }
        await termination.wait()
        ProcessSupport.report("broker cluster stopping")
        supervisor.stopAll()
        directory.recordStopped()
    }
}
