// Options of the link between hosts (issue 18): where a worker takes routers of other hosts,
// where a router finds a partition that lives elsewhere, and the mutual-TLS identity both use.
import ArgumentParser
import LinkTransport

struct LinkTLSOptions: ParsableArguments {
    @Option(help: "This process's certificate (PEM) for links between hosts, issued by the cluster's CA.")
    var linkCertFile: String?

    @Option(help: "The private key (PEM) of --link-cert-file.")
    var linkKeyFile: String?

    @Option(help: "The cluster's CA (PEM): a link peer's certificate must chain to it.")
    var linkCaFile: String?

    /// The mutual-TLS identity, nil when none is given; part of one is an error.
    func resolve() throws -> LinkTLS? {
        switch (linkCertFile, linkKeyFile, linkCaFile) {
        case (nil, nil, nil):
            return nil
        case (let cert?, let key?, let ca?):
            return LinkTLS(certificateFile: cert, keyFile: key, caFile: ca)
        default:
            throw ValidationError("--link-cert-file, --link-key-file and --link-ca-file go together")
        }
    }
}
