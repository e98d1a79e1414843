// How link addresses are read from the command line.
import LinkTransport
import Testing

@Suite("LinkEndpoint")
struct LinkEndpointTests {
    @Test func readsUnixPathsAndTCPAddresses() {
        #expect(LinkEndpoint(parsing: "unix:/run/broker/worker-0.sock") == .unix(path: "/run/broker/worker-0.sock"))
        #expect(LinkEndpoint(parsing: "/run/broker/worker-0.sock") == .unix(path: "/run/broker/worker-0.sock"))
        #expect(LinkEndpoint(parsing: "10.0.0.2:5690") == .tcp(host: "10.0.0.2", port: 5690))
        #expect(LinkEndpoint(parsing: "host-b.example:5690") == .tcp(host: "host-b.example", port: 5690))
        #expect(LinkEndpoint(parsing: "[fd00::2]:5690") == .tcp(host: "fd00::2", port: 5690))
        #expect(LinkEndpoint(parsing: "[fd00::2]:5690")?.description == "[fd00::2]:5690")
    }

    @Test func refusesWhatIsNeither() {
        for text in ["", "unix:", "10.0.0.2", "10.0.0.2:", ":5690", "10.0.0.2:0", "10.0.0.2:70000", "host:port", "a/b:1"] {
            #expect(LinkEndpoint(parsing: text) == nil, "\(text)")
        }
    }
}
