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
    /// Bytes of deliveries produced for it since the worker last flushed its output; above
    /// `outputLimit` its consumers wait for the next flush (no-ack consumers have no prefetch
    /// to stop them, and a long queue would otherwise be emptied into one buffer at once).
    var unflushedBytes = 0
    var outputFull = false
    static let outputLimit = 4 << 20
}

/// The connections that got deliveries since the worker last flushed its output (shared by
/// the partition's queues, like `EngineStats`).
final class OutputLedger {
    var touched: [EngineConnection] = []
    /// Queues whose ready messages in memory fell below `refillBelow` while older ones wait
    /// in the store: read back when the host asks (`PartitionEngine.pageIn`).
    var wantPageIn: [EngineQueue] = []
}
