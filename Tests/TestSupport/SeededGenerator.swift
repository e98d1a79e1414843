// Randomized tests that can be replayed: every generator is seeded, and the seed is printed
// so that a failure can be run again with `TEST_SEED=<seed> swift test --filter …`.

/// SplitMix64: small, seedable, the same on every platform and in every run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for the test named `test`: seeded from `TEST_SEED` when set, otherwise
    /// from the system's generator; the seed is printed either way.
    public static func forTest(_ test: String) -> SeededGenerator {
        let seed = Environment.seed ?? UInt64.random(in: 0...UInt64.max)
        print("\(test): seed \(seed) (replay with TEST_SEED=\(seed))")
        return SeededGenerator(seed: seed)
    }
}

private enum Environment {
    static var seed: UInt64? {
        guard let text = getenvString("TEST_SEED") else { return nil }
        return UInt64(text)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
