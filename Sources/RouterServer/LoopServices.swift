// What the connections of one router event loop share, touched only on that loop (so without
// locks): its links to the workers, the direct reply-to consumers living on it, and the
// connections a resource alarm has blocked.
import BrokerModel
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

    init(index: Int, eventLoop: EventLoop, links: [WorkerLinkClient]) {
        self.index = index
        self.eventLoop = eventLoop
        self.links = links
    }

    /// Called on this loop when a resource alarm is raised or cleared.
    func alarmChanged(active: Bool) {
        guard !active else { return }
        let connections = blocked.values
        blocked.removeAll()
        for connection in connections { connection.alarmCleared() }
    }
}
