// The first 12 bytes of every body: the producer's send time (8 bytes, nanoseconds of
// CLOCK_MONOTONIC — producers and consumers share one process, so one clock), the
// producer's index (2 bytes) and its message sequence number modulo 2^16 (2 bytes), all
// big-endian. Consumers use the time for latency and the sequence to spot reordering and
// duplicates.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The stamp at the start of a perf message body.
public struct PerfStamp: Sendable, Hashable {
    /// Bytes taken by the stamp.
    public static let size = 12

    public var sentNanos: UInt64
    public var producer: UInt16
    public var sequence: UInt16

    public init(sentNanos: UInt64, producer: UInt16, sequence: UInt16) {
        self.sentNanos = sentNanos
        self.producer = producer
        self.sequence = sequence
    }

    /// Writes the stamp at `index` of `buffer` (which must hold 12 bytes there).
    @inlinable
    public func write(into buffer: inout ByteBuffer, at index: Int) {
        buffer.setMultipleIntegers(sentNanos, producer, sequence, at: index)
    }

    /// Reads the stamp from the start of a body (or its first frame); nil if shorter.
    @inlinable
    public init?(body: ByteBuffer) {
        guard let (nanos, producer, sequence) = body.getMultipleIntegers(
            at: body.readerIndex, as: (UInt64, UInt16, UInt16).self) else { return nil }
        self.init(sentNanos: nanos, producer: producer, sequence: sequence)
    }

    /// Latency in whole microseconds from the send time to `receivedNanos` (0 if the clock
    /// reads earlier, which a monotonic clock in one process never does).
    @inlinable
    public func latencyMicros(receivedNanos: UInt64) -> UInt64 {
        receivedNanos > sentNanos ? (receivedNanos - sentNanos) / 1000 : 0
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
public enum MonotonicClock {
    @inlinable
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
