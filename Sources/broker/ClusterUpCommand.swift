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

    @Option(help: "Restarts of one process within 60 s after which cluster up gives up and stops the cluster.")
    var maxRestarts: Int = 5

    @OptionGroup var router: RouterOptions
    @OptionGroup var worker: WorkerOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }

    func run() async throws {
        let runtime = runtimeDir ?? ClusterDirectory.defaultRuntimeDirectory
        try ProcessSupport.prepareRuntimeDirectory(runtime)
        let termination = ProcessSupport.catchTermination()
        let supervisor = Supervisor(startTimeout: startTimeout, policy: RestartPolicy(maxRestarts: maxRestarts))
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
        let directory = ClusterDirectory(runtime)
        let restarts = RestartListener(directory: directory, supervisor: supervisor)
        restarts.start()
        directory.recordRunning(port: router.port)
        ProcessSupport.report("broker cluster up: \(workers) workers + router; connect to amqp://guest:guest@\(host):\(router.port)/ (runtime dir \(runtime)); Ctrl-C stops it")
        supervisor.superviseRestarts()
        await termination.wait()
        ProcessSupport.report("broker cluster stopping")
        supervisor.stopAll()
        directory.recordStopped()
    }
}
