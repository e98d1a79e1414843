// The copy a host keeps of a partition it handed over (`partition-P.moved-E`, Docs/scale-out.md,
// "Moving a partition"): emptied once the new owner serves, so that moves do not fill the
// host's disk. The directory stays, with a note, so that a worker started here for P by
// mistake still refuses to serve an empty store in the partition's place.
import ClusterCoordination
import Foundation
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

    /// Empties each copy whose partition a later claim serves: its owner's epoch is higher, and
    /// its load was reported after that claim (so the owner recovered the store it took).
    static func sweepOnce(dataDirectory root: String, keys: ClusterKeys, etcd: EtcdClient) async {
        for name in Files.list(root) {
            guard let (partition, epoch) = parse(name) else { continue }
            let path = root + "/" + name
            guard Files.list(path).contains(where: { $0 != note }) else { continue }
            guard let ownerKey = try? await etcd.range(keys.owner(partition)).kvs.first,
                  let owner = try? JSONDecoder().decode(PartitionOwner.self, from: Data(ownerKey.value)), owner.epoch > epoch,
                  let load = try? await etcd.range(keys.load(partition)).kvs.first, load.modRevision > ownerKey.modRevision
            else { continue }
            do {
                try Files.replace(path + "/" + note, with: ByteBuffer(
                    string: "partition \(partition) was handed over at epoch \(epoch); node '\(owner.node)' serves it since epoch \(owner.epoch)\n"))
            } catch {
                FileHandle.standardError.write(Data("broker: cannot empty \(path): \(error)\n".utf8))
                continue
            }
            for entry in Files.list(path) where entry != note { Files.removeTree(path + "/" + entry) }
            FileHandle.standardError.write(Data(
                "broker: emptied \(path), the copy of partition \(partition) handed over: node '\(owner.node)' serves it (epoch \(owner.epoch))\n".utf8))
        }
    }

    /// `partition-P.moved-E` → (P, E).
    static func parse(_ name: String) -> (partition: Int, epoch: Int64)? {
        guard name.hasPrefix("partition-"), let dot = name.range(of: ".moved-") else { return nil }
        guard let partition = Int(name[name.index(name.startIndex, offsetBy: "partition-".count)..<dot.lowerBound]),
              let epoch = Int64(name[dot.upperBound...]) else { return nil }
        return (partition, epoch)
    }
}
