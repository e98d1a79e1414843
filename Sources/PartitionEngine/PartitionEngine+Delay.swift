// Messages published to an x-delayed-message exchange, held until their delay has passed
// and then handed back to the router to be routed (as RabbitMQ's delayed-message plugin
// does, but in a heap per partition: O(log n) per message however many are pending).
import BrokerModel
import HeapModule
import LinkWire

/// A delayed message ordered by due time, then by arrival.
struct DelayedMessage: Comparable {
    var dueAt: UInt64
    var sequence: UInt64
    var vhost: VHost
    var message: LinkMessage

    static func < (a: DelayedMessage, b: DelayedMessage) -> Bool {
        (a.dueAt, a.sequence) < (b.dueAt, b.sequence)
    }

    static func == (a: DelayedMessage, b: DelayedMessage) -> Bool {
        a.dueAt == b.dueAt && a.sequence == b.sequence
    }
}

extension PartitionEngine {
    /// Keeps the message and confirms it: it is this worker's from now on.
    mutating func delay(_ request: DelayRequest, from connection: ConnectionID, into output: inout EngineOutput) {
        delayed.insert(DelayedMessage(dueAt: now &+ request.delay, sequence: nextDelayedSequence,
                                      vhost: request.vhost, message: request.message))
        nextDelayedSequence &+= 1
        if request.confirmSequence != 0 {
            output.send(.accepted(channel: request.channel, confirmSequence: request.confirmSequence), to: connection)
        }
    }

    /// Hands every due message to the router, earliest first.
    mutating func releaseDueMessages(into output: inout EngineOutput) {
        while let next = delayed.min, next.dueAt <= now {
            let due = delayed.removeMin()
            output.routeAgain(.delayedDue(vhost: due.vhost, message: due.message))
        }
    }

    /// How many delayed messages the partition holds.
    public var delayedCount: Int { delayed.count }
}
