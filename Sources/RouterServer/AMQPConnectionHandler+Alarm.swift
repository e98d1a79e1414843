// Resource alarms as RabbitMQ applies them: a connection that publishes while an alarm is on
// is told `connection.blocked` (if its client announced the capability) and is no longer
// read from; when the alarm clears it gets `connection.unblocked` and is read again.
// Connections that only consume are never blocked.
import AMQPWire
import NIOCore

extension AMQPConnectionHandler {
    /// Called for each publish: one relaxed atomic load while no alarm is on.
    func blockIfAlarmed() {
        guard !blockedByAlarm, context.diskAlarm.load(ordering: .relaxed), let ctx = channelContext else { return }
        blockedByAlarm = true
        services.blocked[id] = self
        if clientCapabilities.flag("connection.blocked") {
            sendMethod(0, .connectionBlocked(ConnectionBlocked(reason: "low on disk")))
        }
        ctx.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        logger.info("connection blocked by the disk alarm")
    }

    func alarmCleared() {
        guard blockedByAlarm, phase != .closed else { return }
        blockedByAlarm = false
        if clientCapabilities.flag("connection.blocked") {
            sendMethod(0, .connectionUnblocked(ConnectionUnblocked()))
        }
        resumeReading()
    }

    /// connection.update-secret: the new secret must authenticate the connection's user.
    func updateSecret(_ update: ConnectionUpdateSecret) {
        let secret = String(decoding: update.newSecret, as: UTF8.self)
        guard context.users.authenticate(user, secret) else {
            return closeConnection(.accessRefused, "ACCESS_REFUSED - new secret was refused for user '\(user)'",
                                   classID: ConnectionUpdateSecret.classID, methodID: ConnectionUpdateSecret.methodID)
        }
        logger.info("secret updated", metadata: ["reason": "\(update.reason)"])
        sendMethod(0, .connectionUpdateSecretOk(ConnectionUpdateSecretOk()))
    }
}
