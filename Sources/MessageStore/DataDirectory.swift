// The data directory of a cluster: `partitions` records how many partitions it was made
// for (invariant 1: starting on it with another count is refused, never silent loss), each
// worker keeps `partition-<i>/`, the router `router/`.
import NIOCore

public enum DataDirectory {
    /// Creates `root` if needed and checks (or records) its partition count.
    public static func claim(_ root: String, partitions: Int) throws(StoreError) {
        try makeDirectories(root)
        let path = root + "/partitions"
        if let recorded = try StoreFiles.contents(of: path) {
            let text = String(buffer: recorded).trimmingCharacters(in: " \n")
            guard let found = Int(text) else { throw StoreError("\(path) is unreadable: '\(text)'") }
            guard found == partitions else {
                throw StoreError("data directory \(root) was created for \(found) partitions, not \(partitions): "
                                 + "start the cluster with --workers \(found), or use another --data-dir")
            }
            return
        }
        try StoreFiles.replace(path, with: ByteBuffer(string: "\(partitions)\n"))
    }

    public static func partitionPath(_ root: String, partition: Int) -> String { "\(root)/partition-\(partition)" }
    public static func routerPath(_ root: String) -> String { "\(root)/router" }

    /// Creates `path` and its parents, private to the broker's user.
    public static func makeDirectories(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            try StoreFiles.makeDirectory(prefix)
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}

/// A small file replaced whole and atomically (the router's topology).
public enum DurableFile {
    public static func read(_ path: String) throws(StoreError) -> ByteBuffer? { try StoreFiles.contents(of: path) }
    public static func replace(_ path: String, with contents: ByteBuffer) throws(StoreError) {
        try StoreFiles.replace(path, with: contents)
    }
}
