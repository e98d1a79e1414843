// The life of one client connection as the spec's connection class and RabbitMQ's
// rabbit_reader run it: protocol header, start/start-ok (SASL), tune/tune-ok, open,
// heartbeats, and the close handshake in either direction. It also decides whether a frame
// for a channel may reach one (the connection must be open, channel_max counts open channels).
//
// Pure: the handler feeds it events, with the time where time matters, and carries out the
// actions it returns. A channel's own life is `ChannelStateMachine`'s.
import AMQPWire
import BrokerModel
import NIOCore

public struct ConnectionStateMachine {
    @usableFromInline enum State {
        case awaitingProtocolHeader
        case awaitingStartOk
        case awaitingTuneOk
        case awaitingOpen
        case open
        /// A close was sent or answered: input is discarded until the socket goes.
        case closing
        case closed
    }

    @usableFromInline var state = State.awaitingProtocolHeader
    public let settings: ConnectionSettings

    /// Negotiated at tune-ok.
    public private(set) var frameMax: UInt32
    public private(set) var channelMax: UInt16
    public private(set) var heartbeatSeconds: UInt16 = 0
    /// Known after start-ok (the management API shows them).
    public private(set) var user = ""
    public private(set) var authMechanism = ""
    /// The client connects from this host (a loopback address): set by the handler.
    public var fromLoopback = true
    /// The user its TLS client certificate names (for EXTERNAL): set by the handler.
    public var certificateUser: String?
    public private(set) var clientProperties = FieldTable()
    public private(set) var vhost = VHost.default
    /// Set once `settings.admit` counted the connection in its vhost: the handler gives the
    /// place back (`leaveVHost`) when the connection ends.
    public private(set) var admittedToVHost = false

    private var lastReceived: NIODeadline
    private var lastSent: NIODeadline

    public init(settings: ConnectionSettings, now: NIODeadline) {
        self.settings = settings
        self.frameMax = settings.tune.frameMax
        self.channelMax = settings.tune.channelMax
        self.lastReceived = now
        self.lastSent = now
    }

    // Asked for every frame: inlinable, so a check is a compare, not a call.
    /// Channel traffic flows (the handshake is done and no close is under way).
    @inlinable public var isOpen: Bool { if case .open = state { true } else { false } }
    /// A close is under way: only connection.close and close-ok still mean anything.
    @inlinable public var isClosing: Bool { if case .closing = state { true } else { false } }
    @inlinable public var isClosed: Bool { if case .closed = state { true } else { false } }
    @inlinable public var awaitsProtocolHeader: Bool { if case .awaitingProtocolHeader = state { true } else { false } }

    /// The client's `capabilities` table, from its start-ok.
    public var clientCapabilities: FieldTable { clientProperties.capabilities }

    // MARK: Handshake

    /// Bytes of the protocol header arrived, matched against AMQP 0-9-1 (spec 4.2.2).
    public mutating func protocolHeader(_ match: ProtocolHeader.Match) -> [ConnectionAction] {
        guard case .awaitingProtocolHeader = state else { return [] }
        switch match {
        case .incomplete:
            return []
        case .rejected(let header):
            state = .closed
            return [.report(.unsupportedProtocolHeader(header)), .rejectProtocolHeader]
        case .accepted:
            state = .awaitingStartOk
            return [.send(.connectionStart(settings.start))]
        }
    }

    /// A method on channel 0.
    public mutating func receive(_ method: AMQPMethod, now: NIODeadline) -> [ConnectionAction] {
        switch (state, method) {
        case (.awaitingStartOk, .connectionStartOk(let startOk)):
            return acceptStartOk(startOk)
        case (.awaitingTuneOk, .connectionTuneOk(let tuneOk)):
            return acceptTuneOk(tuneOk, now: now)
        case (.awaitingOpen, .connectionOpen(let open)):
            let access = settings.access()
            let requested = VHost(open.virtualHost)
            if let refusal = access.vhostRefusal(user: user, vhost: requested) {
                return close(.notAllowed, "NOT_ALLOWED - " + refusal, method: method)
            }
            let limit = access.limits[requested]?.maxConnections
            guard settings.admit(requested, limit) else {
                return close(.notAllowed, "NOT_ALLOWED - access to vhost '\(requested.name)' refused for user '\(user)': "
                             + "connection limit (\(limit ?? 0)) is reached", method: method)
            }
            admittedToVHost = true
            vhost = requested
            state = .open
            return [.send(.connectionOpenOk(ConnectionOpenOk())), .disarmHandshakeTimer, .report(.opened(user: user, vhost: vhost))]
        case (.closing, .connectionClose), (.closed, .connectionClose):
            // Spec: a close that crosses ours is answered with close-ok.
            return [.send(.connectionCloseOk(ConnectionCloseOk()))]
        case (_, .connectionClose(let close)):
            state = .closing
            // As RabbitMQ does, the socket stays open, its input discarded, until the client
            // closes it (or a timeout): closing first would answer whatever the client still
            // sends (a second close, a heartbeat) with a reset, which can destroy the close-ok.
            return [.report(.clientClosed(code: close.replyCode, text: close.replyText)),
                    .send(.connectionCloseOk(ConnectionCloseOk())), .releaseWorkers,
                    .closeSocket(after: settings.closeOkTimeout)]
        case (_, .connectionCloseOk):
            state = .closed
            return [.closeSocket(after: .zero)]
        case (.closing, _), (.closed, _):
            return []  // spec: after sending close, discard all but close and close-ok
        case (.open, .connectionBlocked), (.open, .connectionUnblocked):
            return []  // clients may not send these; ignored like RabbitMQ
        case (.open, .connectionUpdateSecret(let update)):
            // Accepted as RabbitMQ's internal user database does: it does not re-check a
            // password (token-based backends would check the new token here).
            return [.report(.secretUpdated(reason: update.reason)), .send(.connectionUpdateSecretOk(ConnectionUpdateSecretOk()))]
        default:
            // rabbit_reader's handle_method0 fallback, word for word.
            return close(.channelError, "CHANNEL_ERROR - unexpected method in connection state \(rabbitState)", method: method)
        }
    }

    private mutating func acceptStartOk(_ startOk: ConnectionStartOk) -> [ConnectionAction] {
        clientProperties = startOk.clientProperties
        authMechanism = startOk.mechanism
        guard settings.offers(startOk.mechanism) else {
            return close(.commandInvalid, "COMMAND_INVALID - unknown authentication mechanism '\(startOk.mechanism)'")
        }
        let login: String
        let refusal: LoginRefusal?
        if startOk.mechanism == SASL.external {
            login = certificateUser ?? ""
            refusal = certificateUser == nil ? .noPeerCertificate
                : settings.access().refusal(certificateUser: login, fromLoopback: fromLoopback)
        } else {
            guard let credentials = SASL.credentials(mechanism: startOk.mechanism, response: startOk.response) else {
                return close(.accessRefused, "ACCESS_REFUSED - malformed \(startOk.mechanism) response")
            }
            login = credentials.user
            refusal = settings.access().refusal(user: credentials.user, password: credentials.password, fromLoopback: fromLoopback)
        }
        if let refusal {
            // The client learns no more than RabbitMQ tells it, and only after a pause that
            // slows password guessing; the log says why at once.
            let refused = close(.accessRefused, "ACCESS_REFUSED - Login was refused using authentication mechanism \(startOk.mechanism). For details see the broker logfile.")
            return [.report(.loginRefused(user: login, mechanism: startOk.mechanism, reason: refusal.reason)),
                    .deferred(after: settings.failedLoginDelay, refused)]
        }
        user = login
        state = .awaitingTuneOk
        return [.send(.connectionTune(settings.tune))]
    }

    private mutating func acceptTuneOk(_ tuneOk: ConnectionTuneOk, now: NIODeadline) -> [ConnectionAction] {
        if let refused = TuneNegotiation.refusal(of: tuneOk, offered: settings.tune) {
            return close(refused.code, refused.text, classID: ConnectionTune.classID, methodID: ConnectionTune.methodID)
        }
        frameMax = tuneOk.frameMax
        channelMax = tuneOk.channelMax
        heartbeatSeconds = tuneOk.heartbeat
        state = .awaitingOpen
        lastReceived = now
        lastSent = now
        var actions: [ConnectionAction] = [.tuned(frameMax: frameMax)]
        if heartbeatSeconds > 0 { actions.append(.armHeartbeatCheck(every: heartbeatHalf)) }
        return actions
    }

    /// The connection state as RabbitMQ names it (in errors and the management API).
    public var rabbitState: String {
        switch state {
        case .awaitingProtocolHeader, .awaitingStartOk: "starting"
        case .awaitingTuneOk: "tuning"
        case .awaitingOpen: "opening"
        case .open: "running"
        case .closing, .closed: "closing"
        }
    }

    // MARK: Channels

    /// Whether a command for channel `number` (not 0) may go to its channel. Inlinable: every
    /// publish asks, and the answer is almost always `.existing`.
    @inlinable
    public mutating func route(_ command: Command, toChannel number: UInt16, exists: Bool, openChannels: Int) -> ChannelRoute {
        guard case .open = state else {
            return .refused(close(.commandInvalid, "COMMAND_INVALID - connection is not open"))
        }
        guard case .method(_, .channelOpen) = command else {
            if exists { return .existing }
            return .refused(close(.channelError, "CHANNEL_ERROR - expected 'channel.open'",
                                  classID: command.classID, methodID: command.methodID))
        }
        guard !exists else {
            return .refused(close(.channelError, "CHANNEL_ERROR - second 'channel.open' seen",
                                  classID: ChannelOpen.classID, methodID: ChannelOpen.methodID))
        }
        // As rabbit_reader limits it: channel_max counts the channels open, whatever their numbers.
        guard channelMax == 0 || openChannels < Int(channelMax) else {
            return .refused(close(.notAllowed, "NOT_ALLOWED - number of channels opened (\(openChannels)) has reached the negotiated channel_max (\(channelMax))"))
        }
        return .open
    }

    // MARK: Heartbeats and timeouts

    /// Bytes came from the client.
    public mutating func received(now: NIODeadline) { lastReceived = now }

    /// Bytes went to the client.
    public mutating func sent(now: NIODeadline) { lastSent = now }

    private var heartbeatHalf: TimeAmount { .milliseconds(Int64(heartbeatSeconds) * 500) }

    /// The heartbeat check armed at tune-ok fired. Heartbeats go out at half the interval, as
    /// RabbitMQ sends them; a client silent for two intervals is gone. While reading is
    /// paused (backpressure, an alarm) its heartbeats are not seen, so the monitor pauses, as
    /// RabbitMQ's does for a blocked connection.
    public mutating func heartbeatCheck(now: NIODeadline, readingPaused: Bool) -> [ConnectionAction] {
        guard heartbeatSeconds > 0 else { return [] }
        switch state {
        case .awaitingOpen, .open: break
        default: return []
        }
        if readingPaused {
            lastReceived = now
        } else if now - lastReceived > .seconds(Int64(heartbeatSeconds) * 2) {
            state = .closed
            return [.report(.missedHeartbeats(timeoutSeconds: heartbeatSeconds)), .closeSocket(after: .zero)]
        }
        guard now - lastSent >= heartbeatHalf else { return [] }
        lastSent = now
        return [.sendHeartbeat]
    }

    /// The handshake timer armed when the socket opened fired.
    public mutating func handshakeTimedOut() -> [ConnectionAction] {
        switch state {
        case .awaitingProtocolHeader, .awaitingStartOk, .awaitingTuneOk, .awaitingOpen:
            state = .closed
            return [.report(.handshakeTimedOut), .closeSocket(after: .zero)]
        case .open, .closing, .closed:
            return []
        }
    }

    // MARK: Closing

    /// A connection exception: connection.close, then the client's close-ok (or a timeout)
    /// ends the socket (spec 4.2.8.x). Nothing once a close is under way.
    public mutating func close(_ code: ReplyCode, _ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) -> [ConnectionAction] {
        let wasHandshaking: Bool
        switch state {
        case .closing, .closed: return []
        case .awaitingStartOk, .awaitingTuneOk: wasHandshaking = true
        case .awaitingProtocolHeader, .awaitingOpen, .open: wasHandshaking = false
        }
        state = .closing
        let close = ConnectionClose(replyCode: code.rawValue, replyText: text, classId: classID, methodId: methodID)
        return [.report(.closingWithError(code: code, text: text)), .send(.connectionClose(close)), .releaseWorkers,
                .closeSocket(after: wasHandshaking ? settings.handshakeCloseDelay : settings.closeOkTimeout)]
    }

    public mutating func close(_ code: ReplyCode, _ text: String, method: AMQPMethod) -> [ConnectionAction] {
        close(code, text, classID: method.classID, methodID: method.methodID)
    }

    /// The handler closed the socket (after a `closeSocket` action, or on its own).
    public mutating func socketClosing() { state = .closed }
}

/// What the router offers and checks in every handshake.
public struct ConnectionSettings: Sendable {
    public var start: ConnectionStart
    public var tune: ConnectionTune
    /// The users, vhosts and permissions in force now (the topology snapshot's): a login and
    /// a connection.open are checked against the ones of their moment, as RabbitMQ does.
    public var access: @Sendable () -> AccessControl
    public var handshakeTimeout: TimeAmount
    /// How long the socket waits for the client's close-ok, or to close after our close-ok.
    public var closeOkTimeout: TimeAmount
    /// During the handshake a client gets a moment to read a close before the socket goes.
    public var handshakeCloseDelay: TimeAmount
    /// How long a failed login waits for its refusal: a password guesser gets one answer a
    /// second per connection.
    public var failedLoginDelay: TimeAmount = .seconds(1)
    /// Counts a connection into a vhost unless it already has `limit` (nil: no limit); false
    /// refuses it. The handler gives the place back when an admitted connection ends.
    public var admit: @Sendable (_ vhost: VHost, _ limit: Int?) -> Bool = { _, _ in true }

    public init(start: ConnectionStart, tune: ConnectionTune, access: @escaping @Sendable () -> AccessControl,
                handshakeTimeout: TimeAmount = .seconds(10), closeOkTimeout: TimeAmount = .seconds(3),
                handshakeCloseDelay: TimeAmount = .milliseconds(100)) {
        self.start = start
        self.tune = tune
        self.access = access
        self.handshakeTimeout = handshakeTimeout
        self.closeOkTimeout = closeOkTimeout
        self.handshakeCloseDelay = handshakeCloseDelay
    }

    /// Whether `start` offers the SASL mechanism (EXTERNAL only on the TLS listener).
    public func offers(_ mechanism: String) -> Bool {
        start.mechanisms.split(separator: UInt8(ascii: " ")).contains { $0.elementsEqual(mechanism.utf8) }
    }
}

/// What the handler does for the connection state machine.
public enum ConnectionAction: Hashable, Sendable {
    /// Write this method on channel 0.
    case send(AMQPMethod)
    case sendHeartbeat
    /// The protocol header was not AMQP 0-9-1: write ours, then close the socket (spec 4.2.2).
    case rejectProtocolHeader
    /// Frames may now be up to `frameMax` bytes.
    case tuned(frameMax: UInt32)
    /// Call `heartbeatCheck` at this interval from now on.
    case armHeartbeatCheck(every: TimeAmount)
    /// The handshake is done: `handshakeTimedOut` need not be called.
    case disarmHandshakeTimer
    /// End this connection's streams to the workers: its channels, consumers and exclusive
    /// queues are gone (invariant 2).
    case releaseWorkers
    case closeSocket(after: TimeAmount)
    /// Carry these out after a delay (a failed login's refusal).
    case deferred(after: TimeAmount, [ConnectionAction])
    /// Something an operator may want in the log.
    case report(ConnectionReport)
}

public enum ConnectionReport: Hashable, Sendable {
    case unsupportedProtocolHeader([UInt8])
    case loginRefused(user: String, mechanism: String, reason: String)
    case opened(user: String, vhost: VHost)
    case clientClosed(code: UInt16, text: String)
    case closingWithError(code: ReplyCode, text: String)
    case missedHeartbeats(timeoutSeconds: UInt16)
    case handshakeTimedOut
    case secretUpdated(reason: String)
}

/// Where a command for a channel goes.
public enum ChannelRoute: Hashable, Sendable {
    /// To the open channel with that number.
    case existing
    /// channel.open of a new channel: create it and answer open-ok.
    case open
    /// The connection closes.
    case refused([ConnectionAction])
}

extension Command {
    /// The class and method of the frame's method (0 for a heartbeat), for error closes.
    public var classID: UInt16 {
        switch self {
        case .method(_, let m), .content(_, let m, _, _): m.classID
        case .heartbeat: 0
        }
    }

    public var methodID: UInt16 {
        switch self {
        case .method(_, let m), .content(_, let m, _, _): m.methodID
        case .heartbeat: 0
        }
    }
}
