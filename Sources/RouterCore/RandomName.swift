// Server-generated names (amq.gen-…, amq.ctag-…) in RabbitMQ's URL-safe base64 alphabet.
public enum RandomName {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func make<G: RandomNumberGenerator>(length: Int, using generator: inout G) -> String {
        String(decoding: (0..<length).map { _ in alphabet[Int(generator.next() % 64)] }, as: UTF8.self)
    }

    public static func make(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(length: length, using: &generator)
    }
}
