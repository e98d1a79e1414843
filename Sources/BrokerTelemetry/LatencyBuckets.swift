// BrokerTelemetry: the figures every process keeps about itself and reports (to the router's
// /metrics and management API): fixed-bucket latency histograms, process figures read from
// /proc, and the statistics a worker reports over the link. Plain values: each process
// updates its own without locks, on its own thread.

/// A histogram with fixed bucket bounds in seconds, cheap to update on a hot path (a short
/// scan, no allocation) and summed across processes by adding counts.
public struct LatencyBuckets: Codable, Sendable, Equatable {
    /// Upper bounds in seconds, ascending; a final +Inf bucket is implied.
    public static let bounds: [Double] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]

    /// Observations per bucket (not cumulative); the last is +Inf.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    public init() {
        counts = Array(repeating: 0, count: Self.bounds.count + 1)
    }

    public mutating func observe(seconds: Double) {
        var index = 0
        while index < Self.bounds.count, seconds > Self.bounds[index] { index += 1 }
        counts[index] &+= 1
        sum += seconds
        count &+= 1
    }

    public mutating func observe(milliseconds: UInt64) {
        observe(seconds: Double(milliseconds) / 1000)
    }

    /// The observations made since `earlier` (a previous copy of this histogram).
    public func subtracting(_ earlier: LatencyBuckets) -> LatencyBuckets {
        var result = self
        for index in result.counts.indices where index < earlier.counts.count {
            result.counts[index] &-= min(earlier.counts[index], result.counts[index])
        }
        result.sum = max(0, sum - earlier.sum)
        result.count = count &- min(earlier.count, count)
        return result
    }

    /// The upper bound of the bucket holding quantile `q` (0…1) in seconds; 0 when empty,
    /// infinity when it falls in the last bucket.
    public func upperBound(quantile q: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (index, bucket) in counts.enumerated() {
            seen &+= bucket
            if seen >= rank { return index < Self.bounds.count ? Self.bounds[index] : .infinity }
        }
        return .infinity
    }

    /// Adds another histogram's observations.
    public mutating func add(_ other: LatencyBuckets) {
        for index in counts.indices where index < other.counts.count { counts[index] &+= other.counts[index] }
        sum += other.sum
        count &+= other.count
    }
}
