// `broker cluster members`: the processes registered in etcd (issue 18): each router under
// its lease (RouterMembership), and each worker through its partition claim.
import ArgumentParser
import ClusterCoordination
import Foundation

struct ClusterMembersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "List the routers and workers alive in a cluster, as etcd holds them (each under a lease).")

    @OptionGroup var cluster: ClusterInEtcd

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    private struct Row: Encodable {
        var role: String
        var node: String
        var address: String
        /// A router's serial, or a worker's partition.
        var serial: UInt64?
        var pid: Int32?
        var partition: Int?
        var epoch: Int64?
    }

    func run() async throws {
        let rows: [Row]
        do {
            let client = cluster.client
            let routers = try await RouterMembership.list(keys: cluster.keys, etcd: client)
            let owners = try await PartitionMap.read(keys: cluster.keys, etcd: client).owners
            rows = routers.map { Row(role: "router", node: $0.node, address: $0.address, serial: $0.serial, pid: $0.pid) }
                + owners.sorted { $0.key < $1.key }.map { partition, owner in
                    Row(role: "worker", node: owner.node, address: owner.address, partition: partition, epoch: owner.epoch)
                }
        } catch {
            throw ValidationError("cannot read the cluster's members from etcd at \(cluster.etcd): \(error)")
        }
        if !json { print("role  node  address  detail") }
        for row in rows {
            if json {
                print(String(decoding: try JSONEncoder().encode(row), as: UTF8.self))
            } else if row.role == "router" {
                print("router  \(row.node)  \(row.address)  serial \(row.serial ?? 0), pid \(row.pid ?? 0)")
            } else {
                print("worker  \(row.node)  \(row.address.isEmpty ? "-" : row.address)  partition \(row.partition ?? 0), epoch \(row.epoch ?? 0)")
            }
        }
    }
}
