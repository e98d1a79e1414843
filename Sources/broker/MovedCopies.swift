// The copy a host keeps of a partition it handed over (`partition-P.moved-E`, Docs/scale-out.md,
// "Moving a partition"): emptied once the new owner serves, so that moves do not fill the
// host's disk. The directory stays, with a note, so that a worker started here for P by
// mistake still refuses to serve an empty store in the partition's place.
import ClusterCoordination
import NIOCore
import SystemFiles

enum MovedCopies {
    static let note = "MOVED"

    /// Looks every 5 s while `cluster join` runs.
    static func sweep(dataDirectory: String, keys: ClusterKeys, etcd: EtcdClient) {
        Task {
            while !Task.isCancelled {
                await sweepOnce(dataDirectory: dataDirectory, keys: keys, etcd: etcd)
                try? await Task.sleep(for: .seconds(5))
            }
        }
    }

    /// Empties each copy whose partition a later claim serves (its owner recovered the store
    /// it took).
    static func sweepOnce(dataDirectory root: String, keys: ClusterKeys, etcd: EtcdClient) async {
        for name in Files.list(root) {
            guard let (partition, epoch) = DataDirectory.moved(name) else { continue }
            let path = root + "/" + name
            guard Files.list(path).contains(where: { $0 != note }) else { continue }
            guard let owner = try? await PartitionMap.servingOwner(partition, keys: keys, etcd: etcd), owner.epoch > epoch else { continue }
            do {
                try Files.replace(path + "/" + note, with: ByteBuffer(
                    string: "partition \(partition) was handed over at epoch \(epoch); node '\(owner.node)' serves it since epoch \(owner.epoch)\n"))
            } catch {
                ProcessSupport.note("broker: cannot empty \(path): \(error)")
                continue
            }
            for entry in Files.list(path) where entry != note { Files.removeTree(path + "/" + entry) }
            ProcessSupport.note("broker: emptied \(path), the copy of partition \(partition) handed over: node '\(owner.node)' serves it (epoch \(owner.epoch))")
        }
    }
}
