// TLS for client connections (amqps, RabbitMQ's `listeners.ssl` and `ssl_options`) and the
// telemetry port: certificate and key files, the CA that client certificates must chain to,
// whether a client certificate is asked for and whether one is required, and the protocol
// versions. swift-nio-ssl does the TLS; the internal link stays on Unix sockets.
import NIOSSL

public struct TLSSettings: Sendable {
    /// The amqps port (RabbitMQ's 5671); nil when the certificate serves the telemetry port only.
    public var port: Int?
    public var certificateFile: String
    public var keyFile: String
    /// The CA bundle client certificates are checked against.
    public var caFile: String?
    /// Ask for a client certificate and check it (RabbitMQ's `verify_peer`).
    public var verifyPeer: Bool
    /// Refuse a client without a certificate (RabbitMQ's `fail_if_no_peer_cert`).
    public var failIfNoPeerCertificate: Bool
    /// Protocol versions allowed, as RabbitMQ names them ("tlsv1.2", "tlsv1.3").
    public var versions: [String]
    /// What a client certificate's user name is, for SASL EXTERNAL.
    public var login: CertificateLogin

    public static let versionNames: [String: TLSVersion] = ["tlsv1": .tlsv1, "tlsv1.1": .tlsv11, "tlsv1.2": .tlsv12, "tlsv1.3": .tlsv13]

    public init(port: Int?, certificateFile: String, keyFile: String, caFile: String? = nil, verifyPeer: Bool = false,
                failIfNoPeerCertificate: Bool = false, versions: [String] = ["tlsv1.2", "tlsv1.3"],
                login: CertificateLogin = .distinguishedName) {
        self.port = port
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.verifyPeer = verifyPeer
        self.failIfNoPeerCertificate = failIfNoPeerCertificate
        self.versions = versions
        self.login = login
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// The server context; files that cannot be read or a bad setting say which.
    public func makeContext() throws -> NIOSSLContext {
        let chosen = try versions.map { name -> TLSVersion in
            guard let version = Self.versionNames[name] else {
                throw Invalid(description: "unknown TLS version '\(name)' (one of \(Self.versionNames.keys.sorted().joined(separator: ", ")))")
            }
            return version
        }
        guard let lowest = chosen.min(by: Self.older), let highest = chosen.max(by: Self.older) else {
            throw Invalid(description: "no TLS version allowed")
        }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw Invalid(description: "cannot read the TLS certificate '\(certificateFile)' or key '\(keyFile)': \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = lowest
        configuration.maximumTLSVersion = highest
        // Client certificates chain to the CA file only, never the system's store (where any
        // publicly issued certificate would name an EXTERNAL user).
        if verifyPeer, caFile == nil { throw Invalid(description: "verify_peer needs tls_ca_file, the CA client certificates must chain to") }
        if let caFile { configuration.trustRoots = .file(caFile) }
        configuration.certificateVerification = !verifyPeer ? .none
            : failIfNoPeerCertificate ? .noHostnameVerification : .optionalVerification
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw Invalid(description: "TLS settings refused: \(error)")
        }
    }

    private static func older(_ a: TLSVersion, _ b: TLSVersion) -> Bool {
        let order: [TLSVersion] = [.tlsv1, .tlsv11, .tlsv12, .tlsv13]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}
