// The channel errors the engine answers with, texts formatted as RabbitMQ 3.x formats them
// (rabbit_channel / rabbit_amqqueue / rabbit_misc). Built only on the error path.
import AMQPWire
import BrokerModel
import LinkWire

/// A failed request: an AMQP reply code and RabbitMQ's reply text.
struct ChannelError: Error {
    var code: ReplyCode
    var text: String

    static func notFound(_ queue: QueueID) -> ChannelError {
        ChannelError(code: .notFound, text: "NOT_FOUND - no queue \(queue)")
    }

    static func resourceLocked(_ queue: QueueID) -> ChannelError {
        ChannelError(code: .resourceLocked, text: "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue \(queue). It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.")
    }

    static func exclusiveUse(_ queue: QueueID) -> ChannelError {
        ChannelError(code: .accessRefused, text: "ACCESS_REFUSED - queue \(queue) in exclusive use")
    }

    static func inUse(_ queue: QueueID) -> ChannelError {
        ChannelError(code: .preconditionFailed, text: "PRECONDITION_FAILED - queue \(queue) in use")
    }

    static func notEmpty(_ queue: QueueID) -> ChannelError {
        ChannelError(code: .preconditionFailed, text: "PRECONDITION_FAILED - queue \(queue) not empty")
    }

    /// `received` and `current` are already formatted as RabbitMQ does ('true', none, …).
    static func inequivalent(_ queue: QueueID, field: String, received: String, current: String) -> ChannelError {
        ChannelError(code: .preconditionFailed, text: "PRECONDITION_FAILED - inequivalent arg '\(field)' for queue \(queue): received \(received) but current is \(current)")
    }

    static func reusedConsumerTag(_ tag: String) -> ChannelError {
        ChannelError(code: .notAllowed, text: "NOT_ALLOWED - attempt to reuse consumer tag '\(tag)'")
    }
}

extension EngineOutput {
    mutating func fail(_ id: LinkRequestID, _ error: ChannelError, to connection: ConnectionID) {
        send(.failed(id, code: error.code, text: error.text), to: connection)
    }
}
