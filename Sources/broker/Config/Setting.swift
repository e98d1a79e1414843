// Every setting of the broker's processes in one table: its key in a configuration file
// (a flat JSON object), the environment variable that overrides the file (BROKER_ + the key
// in capitals), the command-line flag that overrides both, its type, default and meaning.
// `broker config check`, `broker config show` and Docs/configuration.md follow this table.
import Logging
import RouterServer

struct Setting: Sendable {
    enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        case number(ClosedRange<Double>)
        case flag
        case text
        case choice([String])
        /// A list: a JSON array of strings, or comma-separated in the environment.
        case texts
    }

    let key: String
    let flag: String
    let kind: Kind
    /// The default as the documentation shows it.
    let defaultText: String
    let help: String

    /// The environment variable: "log_level" → BROKER_LOG_LEVEL (swift-configuration's
    /// mapping of the key with the prefix "broker").
    var environmentName: String { "BROKER_" + key.uppercased() }

    /// What a valid value looks like, for error messages.
    var expected: String {
        switch kind {
        case .integer(let range): "an integer from \(range.lowerBound) to \(range.upperBound)"
        case .number(let range): "a number from \(range.lowerBound) to \(range.upperBound)"
        case .flag: "true or false"
        case .text: "a string"
        case .choice(let values): "one of " + values.joined(separator: ", ")
        case .texts: "a list of strings"
        }
    }
}

extension Setting {
    static let partitions = Setting(key: "partitions", flag: "--workers (cluster up), --partitions (router, worker)",
                                    kind: .integer(1...1024), defaultText: "the number of cores (cluster up)",
                                    help: "Worker processes, one per hash partition of the queues; the same for every process and for the data directory.")
    static let runtimeDir = Setting(key: "runtime_dir", flag: "--runtime-dir", kind: .text,
                                    defaultText: "$XDG_RUNTIME_DIR/broker or /tmp/broker-<uid> (cluster up)",
                                    help: "Private directory (0700) of the workers' sockets, the operator socket and cluster.pid.")
    static let dataDir = Setting(key: "data_dir", flag: "--data-dir", kind: .text, defaultText: "<runtime_dir>/data",
                                 help: "Directory of the durable state: message stores and topology.")
    static let logLevel = Setting(key: "log_level", flag: "--log-level", kind: .choice(Logger.Level.allCases.map(\.rawValue)),
                                  defaultText: "info", help: "Log level.")
    static let host = Setting(key: "host", flag: "--host", kind: .text, defaultText: "0.0.0.0",
                              help: "Address the router listens on for AMQP clients.")
    static let port = Setting(key: "port", flag: "--port", kind: .integer(0...65535), defaultText: "5672", help: "AMQP port.")
    static let eventLoops = Setting(key: "event_loops", flag: "--event-loops", kind: .integer(1...1024),
                                    defaultText: "the number of cores", help: "Router event loops (threads).")
    static let heartbeat = Setting(key: "heartbeat", flag: "--heartbeat", kind: .integer(0...65535), defaultText: "60",
                                   help: "Heartbeat interval in seconds proposed to clients (0 disables).")
    static let users = Setting(key: "users", flag: "--user (repeated)", kind: .texts, defaultText: "guest:guest:administrator on a new broker",
                               help: "Users as name:password or name:password:tag,tag; made or updated at start and on SIGHUP, with every permission on \"/\". Users made at run time (API, broker ctl) are kept in the data directory.")
    static let loopbackUsers = Setting(key: "loopback_users", flag: "--loopback-user (repeated)", kind: .texts, defaultText: "guest",
                                       help: "Users who may log in only from this host (RabbitMQ's loopback_users); \"none\" for nobody.")
    static let enableTelemetry = Setting(key: "enable_telemetry", flag: "--enable-telemetry", kind: .flag, defaultText: "false",
                                         help: "Serve /metrics, /health, the management API and the dashboard over HTTP.")
    static let telemetryHost = Setting(key: "telemetry_host", flag: "--telemetry-host", kind: .text, defaultText: "127.0.0.1",
                                       help: "Address the telemetry endpoint listens on (0.0.0.0 for every interface, for a remote Prometheus).")
    static let telemetryPort = Setting(key: "telemetry_port", flag: "--telemetry-port", kind: .integer(0...65535),
                                       defaultText: "9419", help: "Port of the telemetry endpoint.")
    static let diskFreeLimit = Setting(key: "disk_free_limit", flag: "--disk-free-limit", kind: .integer(0...Int.max),
                                       defaultText: "50000000",
                                       help: "Free bytes below which the disk alarm blocks publishers (RabbitMQ's disk_free_limit).")
    static let memoryHighWatermark = Setting(key: "memory_high_watermark", flag: "--memory-high-watermark",
                                             kind: .number(0...Double(Int64.max)), defaultText: "0.4",
                                             help: "Memory alarm: a fraction of physical memory (at most 1) or bytes (above 1); 0 disables.")
    static let connectionMax = Setting(key: "connection_max", flag: "--connection-max", kind: .integer(1...10_000_000),
                                       defaultText: "no limit",
                                       help: "Client connections the router takes at most (RabbitMQ's connection_max); more are closed at once.")
    static let maxMessageSize = Setting(key: "max_message_size", flag: "--max-message-size", kind: .integer(1...RouterConfiguration.largestMaxMessageSize),
                                        defaultText: "134217728 (128 MiB)",
                                        help: "The largest message body a publish may carry (RabbitMQ's max_message_size); larger ones close the channel with 406.")
    static let tlsPort = Setting(key: "tls_port", flag: "--tls-port", kind: .integer(0...65535), defaultText: "none",
                                 help: "Port of the TLS (amqps) listener, RabbitMQ's 5671; needs tls_cert_file and tls_key_file.")
    static let tlsCertFile = Setting(key: "tls_cert_file", flag: "--tls-cert-file", kind: .text, defaultText: "none",
                                     help: "The server's certificate chain (PEM), for amqps and telemetry_tls.")
    static let tlsKeyFile = Setting(key: "tls_key_file", flag: "--tls-key-file", kind: .text, defaultText: "none",
                                    help: "The server's private key (PEM).")
    static let tlsCAFile = Setting(key: "tls_ca_file", flag: "--tls-ca-file", kind: .text, defaultText: "none",
                                   help: "CA certificates (PEM) that client certificates must chain to.")
    static let tlsVerify = Setting(key: "tls_verify", flag: "--tls-verify", kind: .choice(["verify_none", "verify_peer"]),
                                   defaultText: "verify_none", help: "Ask clients for a certificate and check it (RabbitMQ's ssl_options.verify).")
    static let tlsFailIfNoPeerCert = Setting(key: "tls_fail_if_no_peer_cert", flag: "--tls-fail-if-no-peer-cert", kind: .flag,
                                             defaultText: "false", help: "With verify_peer, refuse clients without a certificate.")
    static let tlsVersions = Setting(key: "tls_versions", flag: "--tls-version (repeated)", kind: .texts, defaultText: "tlsv1.2, tlsv1.3",
                                     help: "TLS versions allowed: tlsv1.2, tlsv1.3 (tlsv1, tlsv1.1 are possible but unsafe).")
    static let sslCertLoginFrom = Setting(key: "ssl_cert_login_from", flag: "--ssl-cert-login-from",
                                          kind: .choice(CertificateLogin.allCases.map(\.rawValue)), defaultText: "distinguished_name",
                                          help: "What of a client certificate is the user name for SASL EXTERNAL: its subject (RFC 4514, e.g. CN=app,O=Example) or its common name.")
    static let telemetryTLS = Setting(key: "telemetry_tls", flag: "--telemetry-tls", kind: .flag, defaultText: "false",
                                      help: "Serve the telemetry port over HTTPS with the TLS certificate and key.")
    static let consumerTimeout = Setting(key: "consumer_timeout", flag: "--consumer-timeout", kind: .integer(0...Int.max),
                                         defaultText: "1800000",
                                         help: "Milliseconds a delivery may stay unacknowledged (RabbitMQ's consumer_timeout).")
    static let startTimeout = Setting(key: "start_timeout", flag: "--start-timeout", kind: .number(1...86400),
                                      defaultText: "600", help: "Seconds cluster up waits for each process to become ready.")
    static let maxRestarts = Setting(key: "max_restarts", flag: "--max-restarts", kind: .integer(1...1000), defaultText: "5",
                                     help: "Restarts of one process within 60 s after which cluster up gives up.")

    // Several hosts (Docs/scale-out.md): router, worker and cluster join, not cluster up.
    static let linkListen = Setting(key: "link_listen", flag: "--link-listen (worker)", kind: .text, defaultText: "none",
                                    help: "HOST:PORT where a worker takes routers of other hosts (TCP, mutual TLS), besides its Unix socket.")
    static let workerLinks = Setting(key: "worker_links", flag: "--worker-link (router, repeated)", kind: .texts, defaultText: "none",
                                     help: "P=HOST:PORT: partition P's worker is on another host (without etcd).")
    static let linkCertFile = Setting(key: "link_cert_file", flag: "--link-cert-file", kind: .text, defaultText: "none",
                                      help: "This process's certificate (PEM) for links between hosts, issued by the cluster's CA.")
    static let linkKeyFile = Setting(key: "link_key_file", flag: "--link-key-file", kind: .text, defaultText: "none",
                                     help: "The private key (PEM) of link_cert_file.")
    static let linkCAFile = Setting(key: "link_ca_file", flag: "--link-ca-file", kind: .text, defaultText: "none",
                                    help: "The cluster's CA (PEM): a link peer's certificate must chain to it.")
    static let etcd = Setting(key: "etcd", flag: "--etcd", kind: .text, defaultText: "none",
                              help: "etcd's client URL: workers claim their partitions there, routers follow the partition map.")
    static let clusterName = Setting(key: "cluster_name", flag: "--cluster-name", kind: .text, defaultText: "broker",
                                     help: "The cluster's keys in etcd are under /broker/NAME/.")
    static let nodeName = Setting(key: "node_name", flag: "--node-name", kind: .text, defaultText: "the host name",
                                  help: "This host's name in the partition map.")
    static let serve = Setting(key: "serve", flag: "--serve (cluster join)", kind: .text, defaultText: "every partition without a worker",
                               help: "The partitions this host serves when it joins a cluster, e.g. 0,3.")
    static let etcdLeaseTTL = Setting(key: "etcd_lease_ttl", flag: "--etcd-lease-ttl", kind: .integer(2...3600), defaultText: "10",
                                      help: "Seconds a worker's claim, or a router's membership, outlives its last renewal in etcd.")

    static let all: [Setting] = [
        partitions, runtimeDir, dataDir, logLevel, host, port, eventLoops, heartbeat, users, loopbackUsers, enableTelemetry, telemetryHost, telemetryPort,
        diskFreeLimit, memoryHighWatermark, connectionMax, maxMessageSize, tlsPort, tlsCertFile, tlsKeyFile, tlsCAFile, tlsVerify,
        tlsFailIfNoPeerCert, tlsVersions, sslCertLoginFrom, telemetryTLS, consumerTimeout, startTimeout, maxRestarts,
        linkListen, workerLinks, linkCertFile, linkKeyFile, linkCAFile, etcd, clusterName, nodeName, etcdLeaseTTL, serve,
    ]

    static func named(_ key: String) -> Setting? { all.first { $0.key == key } }
}
