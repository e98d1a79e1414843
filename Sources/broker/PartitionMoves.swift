// Moving a partition between hosts (Docs/scale-out.md, "Moving a partition"): the command
// writes `/broker/<cluster>/moves/<P> = NODE`; the `cluster join` of that node follows
// `moves/` and starts a worker for P with `--take-over`, which copies the owner's store and
// claims P once the owner lets go.
import ClusterCoordination
import Foundation

enum PartitionMoves {
    /// Follows the moves to `node` from now on and starts a taking-over worker for each.
    /// After a failed watch it starts again from the current revision: a move made meanwhile
    /// is missed (its command times out), an old one is never replayed.
    static func follow(keys: ClusterKeys, etcd: EtcdClient, node: String, supervisor: Supervisor,
                       worker: @escaping @Sendable (Int) -> [String]) {
        Task {
            while !Task.isCancelled {
                do {
                    let now = try await etcd.range(keys.moves, prefix: true).revision
                    for try await events in etcd.watch(prefix: keys.moves, after: now) {
                        for case .put(let kv) in events {
                            guard String(decoding: kv.value, as: UTF8.self) == node,
                                  let partition = Int(kv.key.dropFirst(keys.moves.count)) else { continue }
                            start(partition, supervisor: supervisor, arguments: worker(partition))
                        }
                    }
                } catch {
                    ProcessSupport.note("broker: etcd: the watch of partition moves failed (\(error)); watching again")
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// One start at a time, so that a move asked twice starts one worker.
    private static let starting = DispatchQueue(label: "broker.moves")

    private static func start(_ partition: Int, supervisor: Supervisor, arguments: [String]) {
        let name = "worker \(partition)"
        // Supervisor.start waits for the worker's "ready": not on the watch's task.
        starting.async {
            guard !supervisor.isRunning(name) else { return }
            ProcessSupport.note("broker: taking partition \(partition) over from its owner (broker cluster move-partition)")
            do {
                try supervisor.start(name: name, arguments: arguments + ["--take-over"])
                ProcessSupport.note("broker: \(name) serves here now")
            } catch {
                ProcessSupport.note("broker: taking partition \(partition) over failed: \(error)")
            }
        }
    }
}
