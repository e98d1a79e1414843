// One client connection as the partition sees it.
import BrokerModel

/// A connection's channels on this partition and the exclusive queues it declared here.
final class EngineConnection {
    var channels: [ChannelNumber: EngineChannel] = [:]
    /// In declaration order, so that deleting them is deterministic.
    var ownedQueues: [EngineQueue] = []
    /// The connection's stream is full (its client is slow): no deliveries to its consumers
    /// until it drains. basic.get is still answered.
    var paused = false
}
