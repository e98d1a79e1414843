// Whether a peer is on this host: 127.0.0.0/8, ::1, ::ffff:127.x.y.z or a Unix socket, as
// RabbitMQ's rabbit_net:is_loopback (for `loopback_users`).
import NIOCore

extension SocketAddress {
    public var isLoopback: Bool {
        switch self {
        case .v4(let v4):
            return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
            return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
        case .unixDomainSocket:
            return true
        }
    }
}
