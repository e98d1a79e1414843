// When `cluster up` restarts a child that ended on its own: after 0.5 s, doubling with each
// further end within a minute (up to 8 s), and not at all after `maxRestarts` ends within
// that minute, when restarting has plainly stopped helping.
struct RestartPolicy {
    enum Decision: Equatable {
        case restart(after: Double)
        case giveUp(crashes: Int, window: Double)
    }

    var maxRestarts: Int
    var window: Double = 60
    var firstDelay: Double = 0.5
    var longestDelay: Double = 8
    private var ends: [String: [Double]] = [:]

    init(maxRestarts: Int) { self.maxRestarts = maxRestarts }

    /// Child `name` ended at `time` (seconds).
    mutating func crashed(_ name: String, at time: Double) -> Decision {
        var recent = (ends[name] ?? []).filter { time - $0 < window }
        recent.append(time)
        ends[name] = recent
        guard recent.count <= maxRestarts else { return .giveUp(crashes: recent.count, window: window) }
        var delay = firstDelay
        for _ in 1..<recent.count { delay = min(delay * 2, longestDelay) }
        return .restart(after: delay)
    }
}
