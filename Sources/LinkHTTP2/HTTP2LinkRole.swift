/// Which end of the link a handler is: the router connects (client), a worker accepts (server).
public enum HTTP2LinkRole: Sendable {
    case client
    case server
}
