// The `broker` executable: `cluster up` runs a whole cluster on one host; `router` and
// `worker` run one process each (what the systemd units in Deploy/ start).
import ArgumentParser

@main
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "A RabbitMQ-compatible AMQP 0-9-1 broker: one router process and N worker processes.",
        subcommands: [ClusterCommand.self, RouterCommand.self, WorkerCommand.self, PerfCommand.self, CtlCommand.self, ConfigCommand.self])
}

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run a cluster of a router and its workers on this host, or join this host to a cluster of several.",
        subcommands: [ClusterUpCommand.self, ClusterJoinCommand.self, ClusterStatusCommand.self, ClusterDownCommand.self, ClusterPartitionsCommand.self, ClusterMembersCommand.self, ClusterMovePartitionCommand.self,
                      ClusterRestartWorkerCommand.self, ClusterRestartCommand.self])
}
