// Options of the link between hosts (issue 18): where a worker takes routers of other hosts,
// where a router finds a partition that lives elsewhere, and the mutual-TLS identity both use.
import ArgumentParser
import Foundation
import LinkTransport

struct LinkTLSOptions: ParsableArguments {
    @Option(help: "This process's certificate (PEM) for links between hosts, issued by the cluster's CA.")
    var linkCertFile: String?

    @Option(help: "The private key (PEM) of --link-cert-file.")
    var linkKeyFile: String?

    @Option(help: "The cluster's CA (PEM): a link peer's certificate must chain to it.")
    var linkCaFile: String?

    /// The mutual-TLS identity from the flags, the environment or the file; nil when none is
    /// given, and part of one is an error.
    func resolve(_ config: BrokerConfig) throws -> LinkTLS? {
        let files = (try config.text(.linkCertFile, flag: linkCertFile), try config.text(.linkKeyFile, flag: linkKeyFile),
                     try config.text(.linkCAFile, flag: linkCaFile))
        switch files {
        case (nil, nil, nil):
            return nil
        case (let cert?, let key?, let ca?):
            return LinkTLS(certificateFile: cert, keyFile: key, caFile: ca)
        default:
            throw BrokerConfig.Invalid(description: "link_cert_file, link_key_file and link_ca_file (--link-cert-file, --link-key-file, --link-ca-file) go together")
        }
    }
}

/// Where the cluster's hosts agree on the partition map (issue 18): etcd.
struct CoordinationOptions: ParsableArguments {
    @Option(help: "etcd's client URL (e.g. http://10.0.0.1:2379): the partition map is kept there, workers claim their partitions in it and routers follow it. Default: none (one host).")
    var etcd: String?

    @Option(help: "The cluster's name in etcd (its keys are under /broker/NAME/); default: broker.")
    var clusterName: String?

    @Option(help: "This host's name in the partition map; default: the host name.")
    var nodeName: String?

    @Option(help: "Seconds a worker's claim, or a router's membership, outlives its last renewal in etcd (the lease TTL); default: 10.")
    var etcdLeaseTtl: Int?

    struct Resolved: Sendable {
        var etcd: String?
        var clusterName: String
        var node: String
        var leaseTTL: Int
    }

    /// From the flags, the environment or the file.
    func resolve(_ config: BrokerConfig) throws -> Resolved {
        Resolved(etcd: try config.text(.etcd, flag: etcd),
                 clusterName: try config.text(.clusterName, flag: clusterName) ?? "broker",
                 node: try config.text(.nodeName, flag: nodeName) ?? ProcessInfo.processInfo.hostName,
                 leaseTTL: try config.integer(.etcdLeaseTTL, flag: etcdLeaseTtl) ?? 10)
    }
}
