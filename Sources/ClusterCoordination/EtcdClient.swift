// ClusterCoordination: what the hosts of one cluster agree on, kept in etcd (issue 18). This
// file is the etcd v3 client: its JSON gateway (`/v3/...`, keys and values base64, 64-bit
// numbers as strings) over async-http-client. Only what the cluster uses: put, range, a
// compare-and-put transaction, leases and a watch.
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

public struct EtcdError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// One key's value as etcd holds it.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var lease: Int64

    /// The value as a decimal number (epochs, serials, counts), or nil.
    public var integer: Int64? { Int64(String(decoding: value, as: UTF8.self)) }
}

/// A change a watch reports.
public enum EtcdEvent: Sendable, Equatable {
    case put(EtcdKeyValue)
    case delete(key: String)
}

/// Watches stay open for as long as nothing changes: their client has no read timeout (the
/// shared one ends a quiet response after 90 s). A global, so it is never deinitialised
/// without the shutdown async-http-client requires.
private let watchClient = HTTPClient(
    eventLoopGroup: HTTPClient.defaultEventLoopGroup,
    configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: nil)),
    backgroundActivityLogger: Logger(label: "etcd-watch", factory: { _ in SwiftLogNoOpLogHandler() }))

public final class EtcdClient: Sendable {
    public let endpoint: String
    private let http: HTTPClient

    /// `endpoint` is etcd's client URL, e.g. `http://10.0.0.1:2379`.
    public init(endpoint: String) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.http = HTTPClient.shared  // the process-wide client: nothing to shut down
    }

    // MARK: Keys

    public func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) async throws {
        var body: [String: Any] = ["key": Self.b64(key), "value": Data(value).base64EncodedString()]
        if lease != 0 { body["lease"] = String(lease) }
        _ = try await call("/v3/kv/put", body)
    }

    public func delete(_ key: String) async throws {
        _ = try await call("/v3/kv/deleterange", ["key": Self.b64(key)])
    }

    /// The key, or every key starting with it when `prefix`; with the store's revision.
    public func range(_ key: String, prefix: Bool = false) async throws -> (kvs: [EtcdKeyValue], revision: Int64) {
        var body: [String: Any] = ["key": Self.b64(key)]
        if prefix { body["range_end"] = Self.b64(Self.prefixEnd(key)) }
        let reply = try await call("/v3/kv/range", body)
        let kvs = (reply["kvs"] as? [[String: Any]] ?? []).compactMap(Self.keyValue)
        return (kvs, Self.int(reply["header"].flatMap { ($0 as? [String: Any])?["revision"] }) ?? 0)
    }

    /// A compare-and-set: the puts are made if every `unchanged` key still has the given mod
    /// revision (0: the key does not exist). Returns the store's revision after them, or nil
    /// when they were not made.
    public func putIf(unchanged: [(key: String, modRevision: Int64)], puts: [(key: String, value: [UInt8], lease: Int64)]) async throws -> Int64? {
        let compare: [[String: Any]] = unchanged.map { c in
            ["key": Self.b64(c.key), "result": "EQUAL", "target": "MOD", "mod_revision": String(c.modRevision)]
        }
        let success: [[String: Any]] = puts.map { p in
            var put: [String: Any] = ["key": Self.b64(p.key), "value": Data(p.value).base64EncodedString()]
            if p.lease != 0 { put["lease"] = String(p.lease) }
            return ["request_put": put]
        }
        let reply = try await call("/v3/kv/txn", ["compare": compare, "success": success])
        guard reply["succeeded"] as? Bool ?? false else { return nil }
        return Self.int(reply["header"].flatMap { ($0 as? [String: Any])?["revision"] }) ?? 0
    }

    // MARK: Leases

    /// A lease that ends `ttl` seconds after its last keep-alive; returns its id.
    public func grantLease(ttl: Int) async throws -> Int64 {
        let reply = try await call("/v3/lease/grant", ["TTL": String(ttl)])
        guard let id = Self.int(reply["ID"]), id != 0 else { throw EtcdError("etcd granted no lease: \(reply)") }
        return id
    }

    /// Renews the lease; false once it has ended (its keys are gone).
    public func keepAlive(_ lease: Int64) async throws -> Bool {
        let reply = try await call("/v3/lease/keepalive", ["ID": String(lease)])
        let result = reply["result"] as? [String: Any] ?? reply
        return (Self.int(result["TTL"]) ?? 0) > 0
    }

    public func revoke(_ lease: Int64) async throws {
        _ = try await call("/v3/lease/revoke", ["ID": String(lease)])
    }

    // MARK: Watch

    /// Every change under `prefix` (or of that one key, when `exact`) after `revision`, as
    /// etcd reports them, until the stream ends or fails (then the caller reads the keys again
    /// and watches anew).
    public func watch(prefix: String, exact: Bool = false, after revision: Int64) -> AsyncThrowingStream<[EtcdEvent], Error> {
        var request: [String: Any] = ["key": Self.b64(prefix), "start_revision": String(revision + 1)]
        if !exact { request["range_end"] = Self.b64(Self.prefixEnd(prefix)) }
        let body: [String: Any] = ["create_request": request]
        let url = endpoint + "/v3/watch"
        let http = watchClient
        let payload = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var request = HTTPClientRequest(url: url)
                    request.method = .POST
                    request.headers.add(name: "content-type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: payload))
                    let response = try await http.execute(request, timeout: .hours(24 * 365))
                    guard response.status == .ok else { throw EtcdError("etcd watch: HTTP \(response.status.code)") }
                    var pending = [UInt8]()
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = Array(pending[..<newline])
                            pending.removeSubrange(...newline)
                            if let events = try Self.watchEvents(line), !events.isEmpty { continuation.yield(events) }
                        }
                    }
                    if let events = try Self.watchEvents(pending), !events.isEmpty { continuation.yield(events) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private static func watchEvents(_ line: [UInt8]) throws -> [EtcdEvent]? {
        guard !line.allSatisfy({ $0 == 32 || $0 == 13 }) else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
        if let error = object["error"] { throw EtcdError("etcd watch: \(error)") }
        guard let result = object["result"] as? [String: Any] else { return nil }
        if result["canceled"] as? Bool == true { throw EtcdError("etcd cancelled the watch: \(result["cancel_reason"] ?? "")") }
        return (result["events"] as? [[String: Any]] ?? []).compactMap { event in
            guard let kv = event["kv"] as? [String: Any] else { return nil }
            if event["type"] as? String == "DELETE" {
                return (kv["key"] as? String).flatMap(Self.unb64).map { EtcdEvent.delete(key: $0) }
            }
            return keyValue(kv).map(EtcdEvent.put)
        }
    }

    // MARK: Plumbing

    private func call(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await http.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let object = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] ?? [:]
        guard response.status == .ok else {
            throw EtcdError("etcd \(path): HTTP \(response.status.code) \(object["error"] ?? object["message"] ?? "")")
        }
        return object
    }

    private static func keyValue(_ kv: [String: Any]) -> EtcdKeyValue? {
        guard let key = (kv["key"] as? String).flatMap(unb64) else { return nil }
        let value = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
        return EtcdKeyValue(key: key, value: value, createRevision: int(kv["create_revision"]) ?? 0,
                            modRevision: int(kv["mod_revision"]) ?? 0, lease: int(kv["lease"]) ?? 0)
    }

    static func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func unb64(_ text: String) -> String? { Data(base64Encoded: text).flatMap { String(data: $0, encoding: .utf8) } }

    /// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }

    static func int(_ value: Any?) -> Int64? {
        switch value {
        case let text as String: Int64(text)
        case let number as NSNumber: number.int64Value
        default: nil
        }
    }
}
