// Who a client certificate says its holder is, for SASL EXTERNAL (RabbitMQ's
// rabbitmq_auth_mechanism_ssl): the subject's distinguished name in RFC 4514 form
// ("CN=client,O=Example", RabbitMQ's default `ssl_cert_login_from`), or its common name.
// The certificate arrives as DER from swift-nio-ssl and is read with the system libcrypto.
import CLibCrypto

/// Which part of the certificate names the user (RabbitMQ's `ssl_cert_login_from`).
public enum CertificateLogin: String, Sendable, CaseIterable {
    case distinguishedName = "distinguished_name"
    case commonName = "common_name"

    /// The user name in the certificate `der`, or nil when it has none.
    func userName(fromDER der: [UInt8]) -> String? {
        var start: UnsafePointer<UInt8>? = nil
        return der.withUnsafeBufferPointer { bytes -> String? in
            start = bytes.baseAddress
            guard let certificate = d2i_X509(nil, &start, bytes.count) else { return nil }
            defer { X509_free(certificate) }
            guard let subject = X509_get_subject_name(certificate) else { return nil }
            switch self {
            case .distinguishedName: return Self.rfc4514(subject)
            case .commonName: return Self.commonName(subject)
            }
        }
    }

    private static func rfc4514(_ name: OpaquePointer) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, broker_xn_flag_rfc2253()) >= 0 else { return nil }
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data)
        guard length > 0, let data else { return nil }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// The last (most specific) CN, as RabbitMQ takes it.
    private static func commonName(_ name: OpaquePointer) -> String? {
        var index: Int32 = -1, last: Int32 = -1
        repeat {
            last = index
            index = X509_NAME_get_index_by_NID(name, NID_commonName, last)
        } while index >= 0
        guard last >= 0, let entry = X509_NAME_get_entry(name, last), let value = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&utf8, value)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }
}
