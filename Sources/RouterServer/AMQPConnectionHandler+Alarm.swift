// Resource alarms as RabbitMQ applies them: a connection that publishes while an alarm is on
// is told `connection.blocked` (if its client announced the capability) and is no longer
// read from; when the alarm clears it gets `connection.unblocked` and is read again.
// Connections that only consume are never blocked.
import AMQPWire
import NIOCore

extension AMQPConnectionHandler {
    /// Called for each publish: one relaxed atomic load while no alarm is on.
    func blockIfAlarmed() {
        guard !blockedByAlarm, context.alarmActive, let ctx = channelContext else { return }
        blockedByAlarm = true
        services.blocked[id] = self
        // RabbitMQ's reasons.
        let reason = context.memoryAlarm.load(ordering: .relaxed) ? "low on memory" : "low on disk"
        if connection.clientCapabilities.flag("connection.blocked") {
            sendMethod(0, .connectionBlocked(ConnectionBlocked(reason: reason)))
        }
        ctx.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        logger.info("connection blocked by a resource alarm", metadata: ["reason": "\(reason)"])
    }

    func alarmCleared() {
        guard blockedByAlarm, !socketClosed else { return }
        blockedByAlarm = false
        if connection.clientCapabilities.flag("connection.blocked") {
            sendMethod(0, .connectionUnblocked(ConnectionUnblocked()))
        }
        resumeReading()
    }
}
