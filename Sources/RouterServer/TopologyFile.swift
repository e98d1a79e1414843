// The router's durable topology on disk (invariant 7): `<data-dir>/router/topology`, replaced
// atomically whenever the durable part changes, read back at start-up.
import Logging
import SystemFiles
import NIOCore
import RouterCore

/// Loaded at start-up, then written only by `TopologyWriter`'s thread.
final class TopologyFile: Sendable {
    let path: String
    private let logger: Logger

    init(dataDirectory: String, partitions: Int, logger: Logger) throws {
        try DataDirectory.claim(dataDirectory, partitions: partitions)
        let directory = DataDirectory.routerPath(dataDirectory)
        try DataDirectory.makeDirectories(directory)
        self.path = directory + "/topology"
        self.logger = logger
    }

    /// The durable topology saved last (nil when there is none yet).
    func load() throws -> DurableTopology? {
        guard let contents = try Files.contents(of: path) else { return nil }
        let part = try DurableTopology(decoding: contents)
        logger.info("topology recovered", metadata: [
            "exchanges": "\(part.exchanges.count)", "queues": "\(part.queues.count)", "bindings": "\(part.bindings.count)",
            "users": "\(part.access?.users.count ?? 0)", "vhosts": "\(part.access?.vhosts.count ?? 0)"])
        return part
    }

    /// Replaces the file with `part` (write, fsync, rename, fsync the directory).
    func save(_ part: DurableTopology) {
        do {
            try Files.replace(path, with: part.encoded())
        } catch {
            logger.error("cannot save the topology", metadata: ["error": "\(error)"])
        }
    }
}
