// Connecting to a link endpoint, whichever kind it is: the router to its workers, and a worker
// taking a partition over to the owner.
import NIOCore
import NIOPosix

extension ClientBootstrap {
    public func connect(to endpoint: LinkEndpoint) -> EventLoopFuture<Channel> {
        switch endpoint {
        case .unix(let path): connect(unixDomainSocketPath: path)
        case .tcp(let host, let port): connect(host: host, port: port)
        }
    }
}
