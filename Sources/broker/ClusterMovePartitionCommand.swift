// `broker cluster move-partition P --to NODE`: moves a partition, with its stored messages, to
// another host of the cluster (Docs/scale-out.md, "Moving a partition"). The node's
// `cluster join` starts a worker that takes the store over; this command waits until that
// worker serves.
import ArgumentParser
import ClusterCoordination
import Foundation

struct ClusterMovePartitionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move-partition",
        abstract: "Move a partition and its stored messages to another host's `cluster join` (etcd).")

    @Argument(help: "The partition to move.")
    var partition: Int

    @Option(help: "The node (--node-name of its cluster join) to move it to.")
    var to: String

    @OptionGroup var cluster: ClusterInEtcd

    @Option(help: "Seconds to wait for the new worker to serve (it recovers the store first: about 5 s per million messages); default: 300.")
    var timeout: Double = 300

    func run() async throws {
        let (keys, client) = (cluster.keys, cluster.client)
        // Without an owner, the node's worker starts on the store it has (the owner handed it
        // over but the answer was lost), or refuses when it has none.
        let before = try await owner(keys, client)
        if let before, before.node == to {
            print("partition \(partition) is served by node '\(to)' already (epoch \(before.epoch))")
            return
        }
        try await client.put(keys.move(partition), Array(to.utf8))
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            if let now = try? await PartitionMap.servingOwner(partition, keys: keys, etcd: client), now.node == to {
                try? await client.delete(keys.move(partition))
                let from = before.map { "from node '\($0.node)' (epoch \($0.epoch))" } ?? "(it had no worker)"
                print("partition \(partition) moved \(from) to node '\(to)' at \(now.address) (epoch \(now.epoch))")
                return
            }
        }
        try? await client.delete(keys.move(partition))
        throw ValidationError("partition \(partition) did not move to node '\(to)' within \(Int(timeout)) s: is `broker cluster join --node-name \(to)` running? Its log says why")
    }

    private func owner(_ keys: ClusterKeys, _ client: EtcdClient) async throws -> PartitionOwner? {
        try await PartitionMap.read(keys: keys, etcd: client).owners[partition]
    }

}
