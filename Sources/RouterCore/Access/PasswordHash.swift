// RabbitMQ's salted password hashes (rabbit_password_hashing_sha256, its default since 3.6,
// and the sha512 and md5 variants older exports carry): base64(salt ++ H(salt ++ password))
// with a 4-byte random salt, so definitions exported from RabbitMQ import with their
// passwords, and ours export in a form RabbitMQ reads. The digests are libcrypto's.
import CLibCrypto

/// One user's stored password: salt and digest, never the password.
public struct PasswordHash: Hashable, Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256 = "rabbit_password_hashing_sha256"
        case sha512 = "rabbit_password_hashing_sha512"
        case md5 = "rabbit_password_hashing_md5"

        var digestLength: Int {
            switch self {
            case .sha256: 32
            case .sha512: 64
            case .md5: 16
            }
        }
    }

    public static let saltLength = 4

    public let algorithm: Algorithm
    /// salt ++ digest.
    let bytes: [UInt8]

    /// A new hash of `password` with a random salt (or the one given, for tests).
    public init(password: String, algorithm: Algorithm = .sha256, salt: [UInt8]? = nil) {
        let salt = salt ?? Self.randomSalt()
        self.algorithm = algorithm
        self.bytes = salt + Self.digest(algorithm, salt + Array(password.utf8))
    }

    /// A stored hash as RabbitMQ's definitions carry it (`password_hash`); nil when it is not
    /// base64 of a salt and a digest of the algorithm's length.
    public init?(base64 text: String, algorithm: Algorithm) {
        guard let bytes = Base64.decode(text), bytes.count == Self.saltLength + algorithm.digestLength else { return nil }
        self.algorithm = algorithm
        self.bytes = bytes
    }

    /// As RabbitMQ's definitions carry it.
    public var base64: String { Base64.encode(bytes) }

    /// Whether `password` is the one hashed, compared without an early exit so that the time
    /// taken does not tell how much of the digest matched.
    public func matches(_ password: String) -> Bool {
        let salt = Array(bytes[0..<Self.saltLength])
        let candidate = Self.digest(algorithm, salt + Array(password.utf8))
        var difference: UInt8 = 0
        for (a, b) in zip(candidate, bytes[Self.saltLength...]) { difference |= a ^ b }
        return difference == 0
    }

    static func digest(_ algorithm: Algorithm, _ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let type = switch algorithm {
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        case .md5: EVP_md5()
        }
        let ok = input.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &output, &length, type, nil)
        }
        precondition(ok == 1, "libcrypto could not compute a digest")
        return Array(output[0..<Int(length)])
    }

    static func randomSalt() -> [UInt8] {
        var salt = [UInt8](repeating: 0, count: saltLength)
        precondition(RAND_bytes(&salt, Int32(saltLength)) == 1, "libcrypto has no random bytes")
        return salt
    }
}

/// Standard base64 with padding (RFC 4648), as RabbitMQ writes password hashes.
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        var output = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)
        let written = EVP_EncodeBlock(&output, bytes, Int32(bytes.count))
        return String(decoding: output[0..<Int(written)], as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard !input.isEmpty, input.count % 4 == 0 else { return nil }
        var output = [UInt8](repeating: 0, count: input.count / 4 * 3)
        let written = EVP_DecodeBlock(&output, input, Int32(input.count))
        guard written >= 0 else { return nil }
        // EVP_DecodeBlock counts the bytes the padding stands for as zeros.
        let padding = input.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard padding <= 2 else { return nil }
        return Array(output[0..<(Int(written) - padding)])
    }
}
