// Percentiles of an HdrHistogram of microseconds, and the histogram shape every consumer
// uses: 1 µs to 60 s at 3 significant digits (~140 KB of counters).
import Histogram

/// End-to-end latency percentiles, in microseconds.
public struct LatencySummary: Sendable, Hashable {
    public var p50: UInt64
    public var p95: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64
    public var count: UInt64

    public init(p50: UInt64, p95: UInt64, p99: UInt64, p999: UInt64, max: UInt64, count: UInt64) {
        (self.p50, self.p95, self.p99, self.p999, self.max, self.count) = (p50, p95, p99, p999, max, count)
    }

    /// Reads the percentiles of `histogram`; nil when it is empty.
    public init?(_ histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else { return nil }
        self.init(p50: histogram.valueAtPercentile(50), p95: histogram.valueAtPercentile(95),
                  p99: histogram.valueAtPercentile(99), p999: histogram.valueAtPercentile(99.9),
                  max: histogram.max, count: histogram.totalCount)
    }

}

/// An HdrHistogram of latencies in microseconds, 1 µs to 60 s at 3 significant digits
/// (~140 KB of counters). Larger values are recorded as 60 s.
public struct LatencyHistogram: Sendable {
    /// The largest latency recorded exactly; larger ones are clamped to it.
    public static let highestTrackableMicros: UInt64 = 60_000_000

    public private(set) var histogram: Histogram<UInt64>

    public init() {
        histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestTrackableMicros,
                                      numberOfSignificantValueDigits: .three)
    }

    /// Records one latency.
    @inlinable
    public mutating func record(micros: UInt64) {
        _record(Swift.min(micros, Self.highestTrackableMicros))
    }

    @usableFromInline
    mutating func _record(_ value: UInt64) {
        histogram.record(value)
    }

    /// Adds every value of `other`.
    public mutating func add(_ other: LatencyHistogram) {
        histogram.add(other.histogram)
    }

    /// Values recorded.
    public var count: UInt64 { histogram.totalCount }

    /// The percentiles, nil when empty.
    public var summary: LatencySummary? { LatencySummary(histogram) }
}
