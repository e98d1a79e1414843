// HTTP/1.1 over the router's operator socket (`<runtime-dir>/management.sock`): the
// management API without credentials, for `broker ctl`. One request per connection.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct OperatorClient {
    struct Response {
        var status: Int
        var body: Data
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let socketPath: String

    /// `path` is the API path with every name already percent-encoded (see `encode`).
    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) throws -> Response {
        let fd = try connected()
        defer { close(fd) }
        var message = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        for (name, value) in headers { message += "\(name): \(value)\r\n" }
        message += "Content-Length: \(body?.count ?? 0)\r\nContent-Type: application/json\r\n\r\n"
        var bytes = Data(message.utf8)
        if let body { bytes.append(body) }
        try writeAll(bytes, to: fd)
        return try parse(readAll(from: fd))
    }

    /// A name as one path segment ("/" → "%2F"), as RabbitMQ's API wants vhosts and names.
    static func encode(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn:
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? name
    }

    private func connected() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw Failure(description: "socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot reach the router at \(socketPath) (\(reason)): is a cluster running with this --runtime-dir?")
        }
        return fd
    }

    private func writeAll(_ data: Data, to fd: Int32) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "writing to the router: \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
    }

    private func readAll(from fd: Int32) throws -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw Failure(description: "reading from the router: \(String(cString: strerror(errno)))") }
            if n == 0 { return data }
            data.append(contentsOf: chunk[0..<n])
        }
    }

    /// "HTTP/1.1 200 OK\r\n…\r\n\r\nbody": the server sends Content-Length and closes.
    private func parse(_ data: Data) throws -> Response {
        guard let end = data.firstRange(of: Data("\r\n\r\n".utf8)),
              let head = String(data: data[..<end.lowerBound], encoding: .utf8),
              let status = head.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failure(description: "the router's answer is not HTTP")
        }
        return Response(status: status, body: Data(data[end.upperBound...]))
    }
}
