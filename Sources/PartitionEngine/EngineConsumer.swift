// One basic.consume subscription of a channel to a queue.
import BrokerModel

/// A consumer. Its `unacked` counts only deliveries still outstanding, for its prefetch.
final class EngineConsumer {
    let tag: String
    let channel: EngineChannel
    let queue: EngineQueue
    let noAck: Bool
    let exclusive: Bool
    /// basic.qos prefetch-count; 0 means unlimited.
    let prefetch: Int
    /// `x-priority`: consumers of a higher priority are served first.
    let priority: Int32
    var unacked = 0
    /// False once cancelled; unacked deliveries may still refer to it.
    var isActive = true

    init(tag: String, channel: EngineChannel, queue: EngineQueue, noAck: Bool, exclusive: Bool, prefetch: Int,
         priority: Int32 = 0) {
        self.tag = tag
        self.channel = channel
        self.queue = queue
        self.noAck = noAck
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.priority = priority
    }

    /// Whether a delivery fits its prefetch and its channel's global prefetch on this worker;
    /// noAck consumers have no limit, as in RabbitMQ. Nothing fits while the connection's
    /// stream is paused (its client is slow).
    func hasCapacity(into output: inout EngineOutput) -> Bool {
        if channel.owner.paused || channel.owner.outputFull { return false }
        if noAck { return true }
        guard prefetch == 0 || unacked < prefetch else { return false }
        return channel.hasCredit(into: &output)
    }
}
