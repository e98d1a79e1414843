// The router's durable topology on disk (invariant 7): `<data-dir>/router/topology`, replaced
// atomically whenever the durable part changes, read back at start-up.
import Logging
import SystemFiles
import NIOCore
import RouterCore

/// Used only under `TopologyStore`'s writer lock.
final class TopologyFile: @unchecked Sendable {
    let path: String
    private let logger: Logger
    private var saved = DurableTopology()

    init(dataDirectory: String, partitions: Int, logger: Logger) throws {
        try DataDirectory.claim(dataDirectory, partitions: partitions)
        let directory = DataDirectory.routerPath(dataDirectory)
        try DataDirectory.makeDirectories(directory)
        self.path = directory + "/topology"
        self.logger = logger
    }

    /// The durable topology saved last, applied to a fresh topology.
    func load() throws -> Topology {
        var topology = Topology()
        guard let contents = try Files.contents(of: path) else { return topology }
        let part = try DurableTopology(decoding: contents)
        try topology.restore(part)
        saved = part
        logger.info("topology recovered", metadata: [
            "exchanges": "\(part.exchanges.count)", "queues": "\(part.queues.count)", "bindings": "\(part.bindings.count)"])
        return topology
    }

    /// Writes the durable part when it changed.
    func save(_ topology: Topology) {
        let part = topology.durablePart
        guard part != saved else { return }
        do {
            try Files.replace(path, with: part.encoded())
            saved = part
        } catch {
            logger.error("cannot save the topology", metadata: ["error": "\(error)"])
        }
    }
}
