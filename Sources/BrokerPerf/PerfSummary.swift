// The result of a run and its three renderings: the live one-second line, the closing
// human summary and the `--json` object.

/// Totals of a finished run.
public struct PerfSummary: Sendable, Hashable {
    public var sent: UInt64
    public var received: UInt64
    /// Publisher confirms (nil when `--confirm` is off).
    public var confirmed: UInt64?
    public var nacked: UInt64?
    /// Deliveries that arrived out of publish order or twice (see ``SequenceTracker``).
    public var outOfOrder: UInt64
    /// Seconds from the first publish to the end of the measurement; with `--backlog`, from
    /// the consumers' start to the last delivery (the drain).
    public var seconds: Double
    /// With `--backlog`: seconds from the first publish until every message was published.
    public var fillSeconds: Double?
    public var latency: LatencySummary?
    /// User + system CPU seconds this process spent during the measurement.
    public var cpuSeconds: Double

    public init(sent: UInt64, received: UInt64, confirmed: UInt64? = nil, nacked: UInt64? = nil,
                outOfOrder: UInt64 = 0, seconds: Double, fillSeconds: Double? = nil, latency: LatencySummary?,
                cpuSeconds: Double) {
        self.fillSeconds = fillSeconds
        self.sent = sent
        self.received = received
        self.confirmed = confirmed
        self.nacked = nacked
        self.outOfOrder = outOfOrder
        self.seconds = seconds
        self.latency = latency
        self.cpuSeconds = cpuSeconds
    }

    public var sendRate: Double {
        let publishing = fillSeconds ?? seconds
        return publishing > 0 ? Double(sent) / publishing : 0
    }
    public var receiveRate: Double { seconds > 0 ? Double(received) / seconds : 0 }

    /// The tool's own CPU per message: per message received, or per message sent when
    /// nothing was consumed.
    public var cpuMicrosPerMessage: Double {
        let messages = received > 0 ? received : sent
        return messages > 0 ? cpuSeconds * 1e6 / Double(messages) : 0
    }

    /// The closing summary, several lines.
    public func text() -> String {
        var lines: [String] = []
        if let fillSeconds {
            lines.append("filled \(PerfFormat.count(sent)) msg in \(PerfFormat.fixed(fillSeconds, 2)) s, then drained \(PerfFormat.count(received)) msg in \(PerfFormat.fixed(seconds, 2)) s")
        } else {
            lines.append("sent \(PerfFormat.count(sent)) msg, received \(PerfFormat.count(received)) msg in \(PerfFormat.fixed(seconds, 2)) s")
        }
        lines.append("send rate \(PerfFormat.count(UInt64(sendRate.rounded()))) msg/s, receive rate \(PerfFormat.count(UInt64(receiveRate.rounded()))) msg/s")
        if let confirmed, let nacked {
            lines.append("confirmed \(PerfFormat.count(confirmed)), nacked \(PerfFormat.count(nacked))")
        }
        if let l = latency {
            lines.append("latency p50 \(PerfFormat.micros(l.p50))  p95 \(PerfFormat.micros(l.p95))  p99 \(PerfFormat.micros(l.p99))  p99.9 \(PerfFormat.micros(l.p999))  max \(PerfFormat.micros(l.max))")
        } else {
            lines.append("latency: no message received")
        }
        if outOfOrder > 0 {
            lines.append("WARNING: \(PerfFormat.count(outOfOrder)) deliveries out of publish order or duplicated")
        }
        lines.append("perf tool CPU \(PerfFormat.fixed(cpuSeconds, 2)) s = \(PerfFormat.fixed(cpuMicrosPerMessage, 2)) µs/msg")
        return lines.joined(separator: "\n")
    }

    /// One JSON object, keys in a fixed order.
    public func json() -> String {
        var fields: [String] = [
            "\"sent\":\(sent)", "\"received\":\(received)",
            "\"seconds\":\(PerfFormat.fixed(seconds, 3))",
            "\"send_rate\":\(PerfFormat.fixed(sendRate, 1))", "\"receive_rate\":\(PerfFormat.fixed(receiveRate, 1))",
        ]
        if let fillSeconds { fields.append("\"fill_seconds\":\(PerfFormat.fixed(fillSeconds, 3))") }
        if let l = latency {
            fields.append("\"latency_us\":{\"p50\":\(l.p50),\"p95\":\(l.p95),\"p99\":\(l.p99),\"p999\":\(l.p999),\"max\":\(l.max)}")
        } else {
            fields.append("\"latency_us\":null")
        }
        fields.append("\"cpu_us_per_msg\":\(PerfFormat.fixed(cpuMicrosPerMessage, 3))")
        fields.append("\"cpu_seconds\":\(PerfFormat.fixed(cpuSeconds, 3))")
        if let confirmed, let nacked {
            fields.append("\"confirmed\":\(confirmed)")
            fields.append("\"nacked\":\(nacked)")
        }
        fields.append("\"out_of_order\":\(outOfOrder)")
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// The live line for second `t`.
    public static func liveLine(second t: Int, sendRate: Double, receiveRate: Double,
                                latency: LatencySummary?) -> String {
        var line = "t=\(t)s sent \(PerfFormat.count(UInt64(sendRate.rounded()))) msg/s  received \(PerfFormat.count(UInt64(receiveRate.rounded()))) msg/s"
        if let latency {
            line += "  latency p50 \(PerfFormat.micros(latency.p50)) p99 \(PerfFormat.micros(latency.p99))"
        }
        return line
    }
}

/// Number formatting without Foundation.
public enum PerfFormat {
    /// 1234567 → "1,234,567".
    public static func count(_ value: UInt64) -> String {
        let digits = String(value)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    /// `value` with exactly `decimals` digits after the point.
    public static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "0" }
        var scale: Double = 1
        for _ in 0..<decimals { scale *= 10 }
        let negative = value < 0
        let scaled = UInt64((abs(value) * scale).rounded())
        let whole = scaled / UInt64(scale)
        var text = (negative && scaled > 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            var fraction = String(scaled % UInt64(scale))
            while fraction.count < decimals { fraction = "0" + fraction }
            text += "." + fraction
        }
        return text
    }

    /// Microseconds for people: "210µs", "1.2ms", "35ms", "1.25s".
    public static func micros(_ us: UInt64) -> String {
        if us < 1000 { return "\(us)µs" }
        if us < 10_000 { return fixed(Double(us) / 1000, 1) + "ms" }
        if us < 1_000_000 { return "\((us + 500) / 1000)ms" }
        return fixed(Double(us) / 1e6, 2) + "s"
    }
}
