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
    var unacked = 0
    /// False once cancelled; unacked deliveries may still refer to it.
    var isActive = true

    init(tag: String, channel: EngineChannel, queue: EngineQueue, noAck: Bool, exclusive: Bool, prefetch: Int) {
        self.tag = tag
        self.channel = channel
        self.queue = queue
        self.noAck = noAck
        self.exclusive = exclusive
        self.prefetch = prefetch
    }

    var hasCapacity: Bool { noAck || prefetch == 0 || unacked < prefetch }
}
