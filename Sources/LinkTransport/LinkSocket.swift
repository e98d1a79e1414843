// TCP settings of a link between hosts. On a Unix socket a dead peer always closes the
// connection; over TCP a host that loses power, or a network that splits, leaves it open
// and silent. Keep-alive probes after 5 s of silence, 2 s apart, 3 of them, and a limit of
// 15 s on unacknowledged data, end such a link within about 15 s; the router then nacks
// what the worker did not answer and reconnects, as when a worker dies on one host.
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

public enum LinkSocket {
    /// Applies the settings to a connected (or accepted) TCP channel.
    public static func configure(_ channel: Channel) throws {
        guard let options = channel.syncOptions else { return }
        let tcp = SocketOptionLevel(IPPROTO_TCP)
        try options.setOption(.socketOption(.so_keepalive), value: 1)
        try options.setOption(.socketOption(.tcp_nodelay), value: 1)
        try options.setOption(.socket(tcp, SocketOptionName(TCP_KEEPIDLE)), value: 5)
        try options.setOption(.socket(tcp, SocketOptionName(TCP_KEEPINTVL)), value: 2)
        try options.setOption(.socket(tcp, SocketOptionName(TCP_KEEPCNT)), value: 3)
        try options.setOption(.socket(tcp, SocketOptionName(TCP_USER_TIMEOUT)), value: 15_000)
    }
}
