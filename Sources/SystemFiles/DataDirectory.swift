// The data directory of a cluster: `partitions` records how many partitions it was made
// for (invariant 1: starting on it with another count is refused, never silent loss), each
// worker keeps `partition-<i>/`, the router `router/`.
import NIOCore

public enum DataDirectory {
    /// Creates `root` if needed and checks (or records) its partition count.
    public static func claim(_ root: String, partitions: Int) throws(FileError) {
        try makeDirectories(root)
        let path = root + "/partitions"
        if let recorded = try Files.contents(of: path) {
            let text = String(buffer: recorded).trimmingCharacters(in: " \n")
            guard let found = Int(text) else { throw FileError("\(path) is unreadable: '\(text)'") }
            guard found == partitions else {
                throw FileError("data directory \(root) was created for \(found) partitions, not \(partitions): "
                                 + "start the cluster with --workers \(found), or use another --data-dir")
            }
            return
        }
        try Files.replace(path, with: ByteBuffer(string: "\(partitions)\n"))
    }

    public static func partitionPath(_ root: String, partition: Int) -> String { "\(root)/partition-\(partition)" }

    /// Where a worker sets aside the store it handed over with claim `epoch`
    /// (`partition-P.moved-E`): never recovered again.
    public static func movedPath(_ root: String, partition: Int, epoch: Int64) -> String {
        "\(partitionPath(root, partition: partition)).moved-\(epoch)"
    }

    /// The partition and epoch of a name in the data directory that `movedPath` made.
    public static func moved(_ name: String) -> (partition: Int, epoch: Int64)? {
        guard name.hasPrefix("partition-") else { return nil }
        let parts = name.dropFirst("partition-".count).split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[1].hasPrefix("moved-"), let partition = Int(parts[0]),
              let epoch = Int64(parts[1].dropFirst("moved-".count)) else { return nil }
        return (partition, epoch)
    }
    public static func routerPath(_ root: String) -> String { "\(root)/router" }

    /// Creates `path` and its parents, private to the broker's user.
    public static func makeDirectories(_ path: String) throws(FileError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            try Files.makeDirectory(prefix)
        }
    }
}

extension String {
    public func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
