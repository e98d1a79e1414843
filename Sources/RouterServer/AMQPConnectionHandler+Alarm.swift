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
        if clientCapabilities.flag("connection.blocked") {
            sendMethod(0, .connectionBlocked(ConnectionBlocked(reason: reason)))
        }
        ctx.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        logger.info("connection blocked by a resource alarm", metadata: ["reason": "\(reason)"])
    }

    func alarmCleared() {
        guard blockedByAlarm, phase != .closed else { return }
        blockedByAlarm = false
        if clientCapabilities.flag("connection.blocked") {
            sendMethod(0, .connectionUnblocked(ConnectionUnblocked()))
        }
        resumeReading()
    }

    /// connection.update-secret: accepted, as RabbitMQ's internal user database does (it
    /// does not re-check a password; token-based backends would check the new token here).
    func updateSecret(_ update: ConnectionUpdateSecret) {
        logger.info("secret updated", metadata: ["reason": "\(update.reason)"])
        sendMethod(0, .connectionUpdateSecretOk(ConnectionUpdateSecretOk()))
    }
}
