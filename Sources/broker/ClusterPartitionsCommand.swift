// `broker cluster partitions`: the partition map as etcd holds it (issue 18).
import ArgumentParser
import ClusterCoordination
import Foundation

struct ClusterPartitionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partitions",
        abstract: "Show where each partition is served, and its load, from the partition map in etcd.")

    @OptionGroup var cluster: ClusterInEtcd

    @Option(help: "The number of partitions, to list those without a worker too.")
    var partitions: Int?

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    private struct Row: Encodable {
        var partition: Int
        var node: String?
        var address: String?
        var epoch: Int64?
        var load: PartitionLoad?
    }

    func run() async throws {
        let (keys, etcd) = (cluster.keys, cluster.etcd)
        let owners: [Int: PartitionOwner]
        let loads: [Int: PartitionLoad]
        do {
            let client = cluster.client
            owners = try await PartitionMap.read(keys: keys, etcd: client).owners
            loads = try await PartitionMap.loads(keys: keys, etcd: client)
        } catch {
            throw ValidationError("cannot read the partition map from etcd at \(etcd): \(error)")
        }
        let count = max(partitions ?? 0, (owners.keys.max() ?? -1) + 1)
        if !json { print("partition  node  address  epoch  queues  messages  consumers  in/s  out/s") }
        for partition in 0..<count {
            let owner = owners[partition]
            let load = loads[partition]
            if json {
                let row = Row(partition: partition, node: owner?.node, address: owner?.address, epoch: owner?.epoch, load: load)
                print(String(decoding: try JSONEncoder().encode(row), as: UTF8.self))
            } else if let owner {
                let figures = load.map { "\($0.queues)  \($0.messages)  \($0.consumers)  \(Int($0.enqueuedPerSecond))  \(Int($0.deliveredPerSecond))" }
                    ?? "-  -  -  -  -"
                print("\(partition)  \(owner.node)  \(owner.address.isEmpty ? "-" : owner.address)  \(owner.epoch)  \(figures)")
            } else {
                print("\(partition)  (no worker)  -  -  -  -  -  -  -")
            }
        }
    }
}

/// Where a cluster is in etcd, for the commands that read the map or ask for a move.
struct ClusterInEtcd: ParsableArguments {
    @Option(help: "etcd's client URL, e.g. http://10.0.0.1:2379.")
    var etcd: String

    @Option(help: "The cluster's name in etcd; default: broker.")
    var clusterName: String = "broker"

    var keys: ClusterKeys { ClusterKeys(cluster: clusterName) }
    var client: EtcdClient { EtcdClient(endpoint: etcd) }
}
