// Mutual TLS for links between hosts. Every broker process has a certificate of the
// cluster's CA and trusts only that CA (never the system store): a worker refuses a router
// without such a certificate, and a router refuses a worker without one. Host names are not
// checked: a link's peer is known by its address, and any certificate of the cluster's CA
// belongs to one of its processes.
import NIOSSL

public struct LinkTLS: Sendable {
    public var certificateFile: String
    public var keyFile: String
    public var caFile: String

    public init(certificateFile: String, keyFile: String, caFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The listening side's context: a client certificate of the CA is required.
    public func serverContext() throws -> NIOSSLContext {
        let (chain, key) = try identity()
        return try context(TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key))
    }

    /// The connecting side's context: it shows its certificate and checks the server's.
    public func clientContext() throws -> NIOSSLContext {
        let (chain, key) = try identity()
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = chain
        configuration.privateKey = key
        return try context(configuration)
    }

    private func identity() throws -> ([NIOSSLCertificateSource], NIOSSLPrivateKeySource) {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
            return (chain.map { .certificate($0) }, .privateKey(key))
        } catch {
            throw Invalid(description: "cannot read the link certificate '\(certificateFile)' or key '\(keyFile)': \(error)")
        }
    }

    private func context(_ base: TLSConfiguration) throws -> NIOSSLContext {
        var configuration = base
        configuration.minimumTLSVersion = .tlsv13
        configuration.trustRoots = .file(caFile)
        configuration.certificateVerification = .noHostnameVerification
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw Invalid(description: "link TLS settings refused (CA '\(caFile)'): \(error)")
        }
    }
}
