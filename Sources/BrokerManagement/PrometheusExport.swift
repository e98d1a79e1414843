// Prometheus text for /metrics, through swift-prometheus: the router mirrors each process's
// counters and gauges into one registry at scrape time (counters stay monotonic across
// scrapes and restart from zero when a worker restarted), then appends the latency
// histograms, which arrive already bucketed from the workers, in the same text format.
import BrokerTelemetry
import Foundation
import Prometheus

final class PrometheusExport: @unchecked Sendable {
    // Used only on the telemetry event loop.
    let registry = PrometheusCollectorRegistry()
    private var counters: [String: (counter: Prometheus.Counter, last: Double)] = [:]
    private var gauges: [String: Prometheus.Gauge] = [:]
    private var gaugesSeen: Set<String> = []
    private var histograms: [(name: String, help: String, labels: [(String, String)], buckets: LatencyBuckets)] = []

    /// Starts a scrape: gauges not set again by `finish` are removed (e.g. deleted queues).
    func begin() {
        gaugesSeen.removeAll(keepingCapacity: true)
        histograms.removeAll(keepingCapacity: true)
    }

    func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: UInt64) {
        counter(name, help, labels, Double(value))
    }

    func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        let key = Self.key(name, labels)
        guard var entry = counters[key] else {
            let counter = registry.makeCounter(name: name, labels: labels, help: help)
            counter.increment(by: value)
            counters[key] = (counter, value)
            return
        }
        if value < entry.last {
            entry.counter.reset()  // the process restarted: its counter started again from zero
            entry.counter.increment(by: value)
        } else {
            entry.counter.increment(by: value - entry.last)
        }
        entry.last = value
        counters[key] = entry
    }

    func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        let key = Self.key(name, labels)
        gaugesSeen.insert(key)
        let gauge = gauges[key] ?? {
            let made = registry.makeGauge(name: name, labels: labels, help: help)
            gauges[key] = made
            return made
        }()
        gauge.set(to: value)
    }

    func histogram(_ name: String, _ help: String, _ labels: [(String, String)], _ buckets: LatencyBuckets) {
        histograms.append((name, help, labels, buckets))
    }

    /// The registry's text followed by the histograms, grouped by name.
    func finish() -> String {
        for (key, gauge) in gauges where !gaugesSeen.contains(key) {
            registry.unregisterGauge(gauge)
            gauges[key] = nil
        }
        var text = registry.emitToString()
        var described: Set<String> = []
        for group in Dictionary(grouping: histograms, by: \.name).sorted(by: { $0.key < $1.key }) {
            for entry in group.value {
                if described.insert(entry.name).inserted {
                    text += "# HELP \(entry.name) \(entry.help)\n# TYPE \(entry.name) histogram\n"
                }
                text += Self.render(entry.name, entry.labels, entry.buckets)
            }
        }
        return text
    }

    static func render(_ name: String, _ labels: [(String, String)], _ buckets: LatencyBuckets) -> String {
        let base = labels.map { "\($0.0)=\"\(escape($0.1))\"" }
        var text = ""
        var cumulative: UInt64 = 0
        for (index, count) in buckets.counts.enumerated() {
            cumulative &+= count
            let bound = index < LatencyBuckets.bounds.count ? "\(LatencyBuckets.bounds[index])" : "+Inf"
            text += "\(name)_bucket{\((base + ["le=\"\(bound)\""]).joined(separator: ","))} \(cumulative)\n"
        }
        let plain = base.isEmpty ? "" : "{\(base.joined(separator: ","))}"
        text += "\(name)_sum\(plain) \(buckets.sum)\n\(name)_count\(plain) \(buckets.count)\n"
        return text
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}
