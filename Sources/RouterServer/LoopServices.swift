// What the connections of one router event loop share, touched only on that loop (so without
// locks): its links to the workers, the direct reply-to consumers living on it, and the
// connections a resource alarm has blocked.
import BrokerModel
import BrokerTelemetry
import NIOCore

final class LoopServices: @unchecked Sendable {
    /// This loop's position among the router's loops (it is part of reply-to names).
    let index: Int
    let eventLoop: EventLoop
    let links: [WorkerLinkClient]
    /// Every loop's services, this one included, by index: replies hop to their consumer's loop.
    var all: [LoopServices] = []

    struct ReplyConsumer {
        weak var connection: AMQPConnectionHandler?
        var channel: ChannelNumber
        var consumerTag: String
    }

    /// Direct reply-to consumers by the name part after `amq.rabbitmq.reply-to.`.
    var replyConsumers: [String: ReplyConsumer] = [:]
    /// Connections blocked by the alarm, to unblock when it clears.
    var blocked: [ConnectionID: AMQPConnectionHandler] = [:]
    /// Every open client connection on this loop (for the management API).
    var connections: [ConnectionID: AMQPConnectionHandler] = [:]
    let stats = RouterStats()
    /// Whether this loop's bulk publishers contend for its turns (ReadPacing).
    let readShare = LoopReadShare()

    init(index: Int, eventLoop: EventLoop, links: [WorkerLinkClient]) {
        self.index = index
        self.eventLoop = eventLoop
        self.links = links
    }

    /// Measures how late a timer fires: the loop's lag, for telemetry. Once a second, so an
    /// idle router is hardly ever woken.
    func startLagProbe() {
        let interval = TimeAmount.seconds(1)
        var expected = NIODeadline.now() + .milliseconds(100)
        eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: interval) { [self] _ in
            let now = NIODeadline.now()
            stats.loopLag.observe(seconds: Double(max(0, (now - expected).nanoseconds)) / 1e9)
            expected = now + interval
        }
    }

    /// The loop's counters with its connection, channel and consumer counts.
    func snapshot() -> RouterCounters {
        var snapshot = stats.snapshot()
        snapshot.connections = connections.count
        for connection in connections.values {
            snapshot.channels += connection.channels.count
            for channel in connection.channels.values {
                snapshot.consumers += channel.consumers.count + (channel.replyConsumer == nil ? 0 : 1)
            }
        }
        return snapshot
    }

    /// Called on this loop when a resource alarm is raised or cleared.
    func alarmChanged(active: Bool) {
        guard !active else { return }
        let connections = blocked.values
        blocked.removeAll()
        for connection in connections { connection.alarmCleared() }
    }
}
