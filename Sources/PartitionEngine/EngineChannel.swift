// One (connection, channel) as the partition sees it: the worker delivery tags it has
// handed out, its unacked deliveries sorted by tag, and its consumers.
import BrokerModel
import DequeModule
import LinkWire

/// A delivery waiting for ack, nack or reject.
struct UnackedDelivery {
    var tag: UInt64
    var queue: EngineQueue
    /// nil for basic.get.
    var consumer: EngineConsumer?
    var sequence: UInt64
    var message: LinkMessage
    /// Engine milliseconds, for the consumer timeout.
    var deliveredAt: UInt64
    /// The store segment holding the message; 0 when it is in memory only.
    var stored: UInt32 = 0
}

/// A channel's partition-local state. Tags rise by one per delivery or get-ok (noAck ones
/// too), so `unacked` is sorted by tag: `multiple` settles drain a prefix, single ones are
/// found at the front or by binary search (as LavinMQ's channel unacked deque).
final class EngineChannel {
    let connection: ConnectionID
    let number: ChannelNumber
    /// The connection's state here (it owns its channels, so unowned is safe).
    unowned let owner: EngineConnection
    private(set) var lastTag: UInt64 = 0
    var unacked: Deque<UnackedDelivery> = []
    /// In subscription order, so that closing the channel is deterministic.
    var consumers: [EngineConsumer] = []
    /// The channel's share of its global prefetch on this worker (nil: none), and its
    /// unacked consumer deliveries here, which the share bounds.
    var limit: UInt32?
    var consumerUnacked = 0
    /// The router was asked for more credit and has not answered yet.
    var creditWanted = false
    /// More than `limit` is unacked: the router waits to hear when it fits (`.channelShareUsage`).
    var loweredLimitPending = false
    /// The router has been told that the oldest delivery timed out.
    var timedOut = false

    init(connection: ConnectionID, number: ChannelNumber, owner: EngineConnection) {
        self.connection = connection
        self.number = number
        self.owner = owner
    }

    /// Whether one more consumer delivery fits the channel's limit; if not, asks once.
    func hasCredit(into output: inout EngineOutput) -> Bool {
        guard let limit, consumerUnacked >= Int(limit) else { return true }
        if !creditWanted {
            creditWanted = true
            output.send(.creditWanted(channel: number), to: connection)
        }
        return false
    }

    /// A consumer delivery was settled: tells the router when a lowered limit holds.
    func consumerDeliverySettled(into output: inout EngineOutput) {
        consumerUnacked &-= 1
        if loweredLimitPending, let limit, consumerUnacked <= Int(limit) {
            loweredLimitPending = false
            output.send(.channelShareUsage(channel: number, limit: limit, unacked: UInt32(clamping: consumerUnacked)),
                        to: connection)
        }
    }

    func nextTag() -> UInt64 {
        lastTag &+= 1
        return lastTag
    }

    func consumer(tag: String) -> EngineConsumer? {
        consumers.first { $0.tag == tag }
    }

    func removeConsumer(_ consumer: EngineConsumer) {
        if let index = consumers.firstIndex(where: { $0 === consumer }) { consumers.remove(at: index) }
    }

    /// Removes and returns the unacked delivery with this tag, if there is one.
    func takeUnacked(tag: UInt64) -> UnackedDelivery? {
        if let first = unacked.first, first.tag == tag { return unacked.removeFirst() }
        var low = 0
        var high = unacked.count
        while low < high {
            let mid = (low &+ high) / 2
            if unacked[mid].tag < tag { low = mid &+ 1 } else { high = mid }
        }
        guard low < unacked.count, unacked[low].tag == tag else { return nil }
        return unacked.remove(at: low)
    }
}
