// The client side of connection negotiation (spec 2.2.4, 4.2.2), then `channel.open` on
// channel 1: start → start-ok (PLAIN), tune → tune-ok + open, open-ok → channel.open,
// channel.open-ok → ready. frame_max is the server's (or 128 KiB if it sets no limit);
// heartbeats are turned off, since a perf run is short and always busy.
import AMQPWire

/// A method to send on a channel.
public struct OutgoingMethod: Sendable, Hashable {
    public var channel: UInt16
    public var method: AMQPMethod
    public init(_ channel: UInt16, _ method: AMQPMethod) {
        self.channel = channel
        self.method = method
    }
}

/// Connection negotiation as a state machine: one event in, what to do out.
public struct ClientHandshake: Sendable {
    private enum State { case awaitingStart, awaitingTune, awaitingOpenOk, awaitingChannelOpenOk, open, failed }

    /// What the handler must do after an event.
    public struct Step: Sendable, Hashable {
        public var send: [OutgoingMethod] = []
        /// Set once channel 1 is open: the negotiated frame_max.
        public var readyFrameMax: UInt32? = nil
        /// Set when negotiation failed; the connection must be closed.
        public var failure: String? = nil
    }

    public let uri: AMQPURI
    private var state: State = .awaitingStart

    public init(uri: AMQPURI) { self.uri = uri }

    /// Whether channel 1 is open.
    public var isOpen: Bool { if case .open = state { true } else { false } }

    /// Feeds a method received before the channel is open.
    public mutating func receive(_ method: AMQPMethod, channel: UInt16) -> Step {
        var step = Step()
        switch (state, method) {
        case (_, .connectionClose(let close)):
            state = .failed
            step.send = [OutgoingMethod(0, .connectionCloseOk(ConnectionCloseOk()))]
            step.failure = "broker closed the connection: \(close.replyCode) \(close.replyText)"
        case (_, .channelClose(let close)):
            state = .failed
            step.send = [OutgoingMethod(channel, .channelCloseOk(ChannelCloseOk()))]
            step.failure = "broker closed channel \(channel): \(close.replyCode) \(close.replyText)"
        case (.awaitingStart, .connectionStart(let start)):
            let mechanisms = String(decoding: start.mechanisms, as: UTF8.self).split(separator: " ")
            guard mechanisms.contains("PLAIN") else {
                state = .failed
                step.failure = "broker does not offer SASL PLAIN (offers: \(mechanisms.joined(separator: " ")))"
                return step
            }
            let response = [0] + Array(uri.user.utf8) + [0] + Array(uri.password.utf8)
            let capabilities: FieldTable = [
                "publisher_confirms": .bool(true), "basic.nack": .bool(true),
                "consumer_cancel_notify": .bool(true), "connection.blocked": .bool(true),
            ]
            let properties: FieldTable = [
                "product": .longString(Array("broker perf".utf8)),
                "capabilities": .table(capabilities),
            ]
            step.send = [OutgoingMethod(0, .connectionStartOk(ConnectionStartOk(
                clientProperties: properties, mechanism: "PLAIN", response: response, locale: "en_US")))]
            state = .awaitingTune
        case (.awaitingTune, .connectionTune(let tune)):
            let frameMax = tune.frameMax == 0 ? 131_072 : tune.frameMax
            step.send = [
                OutgoingMethod(0, .connectionTuneOk(ConnectionTuneOk(channelMax: tune.channelMax,
                                                                     frameMax: frameMax, heartbeat: 0))),
                OutgoingMethod(0, .connectionOpen(ConnectionOpen(virtualHost: uri.vhost))),
            ]
            negotiatedFrameMax = frameMax
            state = .awaitingOpenOk
        case (.awaitingOpenOk, .connectionOpenOk):
            step.send = [OutgoingMethod(1, .channelOpen(ChannelOpen()))]
            state = .awaitingChannelOpenOk
        case (.awaitingChannelOpenOk, .channelOpenOk) where channel == 1:
            step.readyFrameMax = negotiatedFrameMax
            state = .open
        default:
            state = .failed
            step.failure = "unexpected \(method.name) during the handshake"
        }
        return step
    }

    private var negotiatedFrameMax: UInt32 = 131_072
}
