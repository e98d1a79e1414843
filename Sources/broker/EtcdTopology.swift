// The routers' shared topology (RouterServer's SharedTopology) as one etcd key, in the
// topology file's format, replaced by compare-and-swap on its mod revision.
import ClusterCoordination
import NIOCore
import RouterCore
import RouterServer

struct EtcdTopology: SharedTopology {
    let etcd: EtcdClient
    let key: String

    func read() async throws -> (part: DurableTopology?, revision: Int64) {
        guard let kv = try await etcd.range(key).kvs.first else { return (nil, 0) }
        return (try DurableTopology(decoding: ByteBuffer(bytes: kv.value)), kv.modRevision)
    }

    func write(_ part: DurableTopology, ifAt revision: Int64) async throws -> Int64? {
        try await etcd.putIf(unchanged: [(key, revision)], puts: [(key, Array(part.encoded().readableBytesView), 0)])
    }

    func changes(after revision: Int64) -> AsyncThrowingStream<(part: DurableTopology, revision: Int64), Error> {
        let events = etcd.watch(prefix: key, exact: true, after: revision)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await batch in events {
                        for case .put(let kv) in batch {
                            continuation.yield((try DurableTopology(decoding: ByteBuffer(bytes: kv.value)), kv.modRevision))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
