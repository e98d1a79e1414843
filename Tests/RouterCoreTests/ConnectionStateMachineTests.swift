import AMQPWire
import BrokerModel
import NIOCore
import RouterCore
import Testing

/// Scripted sessions through the connection state machine, with time given by the test.
@Suite("ConnectionStateMachine")
struct ConnectionStateMachineTests {
    static let start = ConnectionStart(versionMajor: 0, versionMinor: 9, serverProperties: [:],
                                       mechanisms: Array("PLAIN AMQPLAIN".utf8), locales: Array("en_US".utf8))
    static let tune = ConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60)
    static let settings = ConnectionSettings(start: start, tune: tune, access: { AccessControl() })
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    var machine = ConnectionStateMachine(settings: Self.settings, now: Self.t0)

    static func plain(_ user: String, _ password: String) -> ConnectionStartOk {
        ConnectionStartOk(clientProperties: ["capabilities": .table(["connection.blocked": .bool(true)])],
                          mechanism: "PLAIN", response: Array("\0\(user)\0\(password)".utf8), locale: "en_US")
    }

    /// Drives the machine to `open`, checking each step's actions.
    mutating func handshake(heartbeat: UInt16 = 0, at now: NIODeadline = t0) {
        #expect(machine.protocolHeader(.accepted) == [.send(.connectionStart(Self.start))])
        #expect(machine.receive(.connectionStartOk(Self.plain("guest", "guest")), now: now) == [.send(.connectionTune(Self.tune))])
        var tuned: [ConnectionAction] = [.tuned(frameMax: 4096)]
        if heartbeat > 0 { tuned.append(.armHeartbeatCheck(every: .milliseconds(Int64(heartbeat) * 500))) }
        #expect(machine.receive(.connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: heartbeat)), now: now) == tuned)
        #expect(machine.receive(.connectionOpen(ConnectionOpen(virtualHost: "/")), now: now)
            == [.send(.connectionOpenOk(ConnectionOpenOk())), .disarmHandshakeTimer, .report(.opened(user: "guest", vhost: .default))])
        #expect(machine.isOpen)
    }

    static func closing(_ code: ReplyCode, _ text: String, classID: UInt16 = 0, methodID: UInt16 = 0,
                        after delay: TimeAmount = .seconds(3)) -> [ConnectionAction] {
        [.report(.closingWithError(code: code, text: text)),
         .send(.connectionClose(ConnectionClose(replyCode: code.rawValue, replyText: text, classId: classID, methodId: methodID))),
         .releaseWorkers, .closeSocket(after: delay)]
    }

    @Test("a full handshake opens the connection with the negotiated values")
    mutating func handshakeOpens() {
        handshake()
        #expect(machine.user == "guest")
        #expect(machine.frameMax == 4096)
        #expect(machine.channelMax == 10)
        #expect(machine.authMechanism == "PLAIN")
        #expect(machine.clientCapabilities.flag("connection.blocked"))
        #expect(machine.rabbitState == "running")
    }

    @Test("AMQPLAIN credentials are accepted")
    mutating func amqplain() {
        _ = machine.protocolHeader(.accepted)
        var table = ByteBuffer()
        table.writeFieldTable(["LOGIN": .longString(Array("guest".utf8)), "PASSWORD": .longString(Array("guest".utf8))])
        let response = Array(table.readableBytesView.dropFirst(4))  // the entries without the length
        let actions = machine.receive(.connectionStartOk(ConnectionStartOk(clientProperties: [:], mechanism: "AMQPLAIN",
                                                                          response: response, locale: "en_US")), now: Self.t0)
        #expect(actions == [.send(.connectionTune(Self.tune))])
    }

    @Test("a wrong protocol header gets ours back and the socket closes")
    mutating func wrongHeader() {
        #expect(machine.protocolHeader(.incomplete) == [])
        let header: [UInt8] = Array("HTTP/1.1".utf8)
        #expect(machine.protocolHeader(.rejected(header)) == [.report(.unsupportedProtocolHeader(header)), .rejectProtocolHeader])
        #expect(machine.isClosed)
    }

    @Test("a wrong password is 403 with RabbitMQ's text after a second, the login reported at once without the password")
    mutating func badPassword() {
        _ = machine.protocolHeader(.accepted)
        let text = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."
        #expect(machine.receive(.connectionStartOk(Self.plain("guest", "nope")), now: Self.t0)
            == [.report(.loginRefused(user: "guest", mechanism: "PLAIN", reason: "wrong user name or password")),
                .deferred(after: .seconds(1), Self.closing(.accessRefused, text, after: .milliseconds(100)))])
        #expect(machine.isClosing)
    }

    @Test("guest from another host is refused like a wrong password, the log saying why; other users and loopback are fine")
    mutating func loopbackOnly() {
        let text = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."
        var remote = machine
        remote.fromLoopback = false
        _ = remote.protocolHeader(.accepted)
        #expect(remote.receive(.connectionStartOk(Self.plain("guest", "guest")), now: Self.t0)
            == [.report(.loginRefused(user: "guest", mechanism: "PLAIN", reason: "user 'guest' can only connect via localhost")),
                .deferred(after: .seconds(1), Self.closing(.accessRefused, text, after: .milliseconds(100)))])
        _ = machine.protocolHeader(.accepted)
        #expect(machine.receive(.connectionStartOk(Self.plain("guest", "guest")), now: Self.t0) == [.send(.connectionTune(Self.tune))])
    }

    @Test("EXTERNAL on a TLS listener logs in the user the client certificate names; without one, or unoffered, it is refused")
    mutating func external() {
        let text = "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile."
        let external = ConnectionStartOk(clientProperties: [:], mechanism: "EXTERNAL", response: [], locale: "en_US")
        var tls = Self.settings
        tls.start.mechanisms = Array("PLAIN AMQPLAIN EXTERNAL".utf8)
        var named = ConnectionStateMachine(settings: tls, now: Self.t0)
        named.certificateUser = "guest"
        _ = named.protocolHeader(.accepted)
        #expect(named.receive(.connectionStartOk(external), now: Self.t0) == [.send(.connectionTune(Self.tune))])
        #expect(named.user == "guest")
        var unknown = ConnectionStateMachine(settings: tls, now: Self.t0)
        unknown.certificateUser = "CN=nobody"
        _ = unknown.protocolHeader(.accepted)
        #expect(unknown.receive(.connectionStartOk(external), now: Self.t0)
            == [.report(.loginRefused(user: "CN=nobody", mechanism: "EXTERNAL", reason: "no user 'CN=nobody' (the client certificate's name)")),
                .deferred(after: .seconds(1), Self.closing(.accessRefused, text, after: .milliseconds(100)))])
        var anonymous = ConnectionStateMachine(settings: tls, now: Self.t0)
        _ = anonymous.protocolHeader(.accepted)
        #expect(anonymous.receive(.connectionStartOk(external), now: Self.t0).first
            == .report(.loginRefused(user: "", mechanism: "EXTERNAL", reason: "EXTERNAL login without a client certificate")))
        machine.certificateUser = "guest"
        _ = machine.protocolHeader(.accepted)
        #expect(machine.receive(.connectionStartOk(external), now: Self.t0)
            == Self.closing(.commandInvalid, "COMMAND_INVALID - unknown authentication mechanism 'EXTERNAL'", after: .milliseconds(100)))
    }

    @Test("an unknown mechanism is 503 and a malformed response 403")
    mutating func badSASL() {
        var other = machine
        _ = machine.protocolHeader(.accepted)
        let unknown = ConnectionStartOk(clientProperties: [:], mechanism: "EXTERNAL", response: [], locale: "en_US")
        #expect(machine.receive(.connectionStartOk(unknown), now: Self.t0)
            == Self.closing(.commandInvalid, "COMMAND_INVALID - unknown authentication mechanism 'EXTERNAL'", after: .milliseconds(100)))
        _ = other.protocolHeader(.accepted)
        let malformed = ConnectionStartOk(clientProperties: [:], mechanism: "PLAIN", response: Array("guest".utf8), locale: "en_US")
        #expect(other.receive(.connectionStartOk(malformed), now: Self.t0)
            == Self.closing(.accessRefused, "ACCESS_REFUSED - malformed PLAIN response", after: .milliseconds(100)))
    }

    @Test("a tune-ok above the offer is 530 naming connection.tune")
    mutating func badTune() {
        _ = machine.protocolHeader(.accepted)
        _ = machine.receive(.connectionStartOk(Self.plain("guest", "guest")), now: Self.t0)
        let actions = machine.receive(.connectionTuneOk(ConnectionTuneOk(channelMax: 0, frameMax: 4096, heartbeat: 0)), now: Self.t0)
        #expect(actions == Self.closing(.notAllowed, "NOT_ALLOWED - negotiated channel_max = 0 (no limit) is higher than the maximum allowed value (2047)",
                                        classID: 10, methodID: 30, after: .milliseconds(100)))
    }

    @Test("an unknown vhost is 530 naming connection.open")
    mutating func unknownVHost() {
        _ = machine.protocolHeader(.accepted)
        _ = machine.receive(.connectionStartOk(Self.plain("guest", "guest")), now: Self.t0)
        _ = machine.receive(.connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 0)), now: Self.t0)
        #expect(machine.receive(.connectionOpen(ConnectionOpen(virtualHost: "other")), now: Self.t0)
            == Self.closing(.notAllowed, "NOT_ALLOWED - vhost other not found", classID: 10, methodID: 40))
    }

    @Test("a method out of order is 504 naming RabbitMQ's connection state")
    mutating func outOfOrder() {
        _ = machine.protocolHeader(.accepted)
        let tuneOk = AMQPMethod.connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 0))
        #expect(machine.receive(tuneOk, now: Self.t0)
            == Self.closing(.channelError, "CHANNEL_ERROR - unexpected method in connection state starting", classID: 10, methodID: 31,
                            after: .milliseconds(100)))
        var running = ConnectionStateMachine(settings: Self.settings, now: Self.t0)
        swap(&machine, &running)
        handshake()
        #expect(machine.receive(.connectionOpen(ConnectionOpen(virtualHost: "/")), now: Self.t0)
            == Self.closing(.channelError, "CHANNEL_ERROR - unexpected method in connection state running", classID: 10, methodID: 40))
    }

    @Test("the client's close is answered, the workers released, the socket kept for the client to close")
    mutating func clientCloses() {
        handshake()
        let close = ConnectionClose(replyCode: 200, replyText: "bye", classId: 0, methodId: 0)
        #expect(machine.receive(.connectionClose(close), now: Self.t0)
            == [.report(.clientClosed(code: 200, text: "bye")), .send(.connectionCloseOk(ConnectionCloseOk())),
                .releaseWorkers, .closeSocket(after: .seconds(3))])
        // A second close is answered again; anything else is discarded.
        #expect(machine.receive(.connectionClose(close), now: Self.t0) == [.send(.connectionCloseOk(ConnectionCloseOk()))])
        #expect(machine.receive(.basicQos(BasicQos(prefetchSize: 0, prefetchCount: 1, global: false)), now: Self.t0) == [])
    }

    @Test("our close waits for close-ok, answers a crossing close, and ignores the rest")
    mutating func serverCloses() {
        handshake()
        #expect(machine.close(.internalError, "INTERNAL_ERROR - x") == Self.closing(.internalError, "INTERNAL_ERROR - x"))
        #expect(machine.close(.internalError, "INTERNAL_ERROR - again") == [])
        #expect(machine.receive(.connectionClose(ConnectionClose(replyCode: 200, replyText: "", classId: 0, methodId: 0)), now: Self.t0)
            == [.send(.connectionCloseOk(ConnectionCloseOk()))])
        #expect(machine.receive(.connectionOpen(ConnectionOpen(virtualHost: "/")), now: Self.t0) == [])
        #expect(machine.receive(.connectionCloseOk(ConnectionCloseOk()), now: Self.t0) == [.closeSocket(after: .zero)])
        #expect(machine.isClosed)
    }

    @Test("update-secret is accepted; blocked and unblocked from a client are ignored")
    mutating func openMethods() {
        handshake()
        #expect(machine.receive(.connectionUpdateSecret(ConnectionUpdateSecret(newSecret: [1], reason: "rotate")), now: Self.t0)
            == [.report(.secretUpdated(reason: "rotate")), .send(.connectionUpdateSecretOk(ConnectionUpdateSecretOk()))])
        #expect(machine.receive(.connectionBlocked(ConnectionBlocked(reason: "x")), now: Self.t0) == [])
        #expect(machine.isOpen)
    }

    @Test("the handshake timer closes a connection that never opened, and not an open one")
    mutating func handshakeTimeout() {
        var open = machine
        _ = machine.protocolHeader(.accepted)
        #expect(machine.handshakeTimedOut() == [.report(.handshakeTimedOut), .closeSocket(after: .zero)])
        swap(&machine, &open)
        handshake()
        #expect(machine.handshakeTimedOut() == [])
    }

    // MARK: Heartbeats, with time advanced by the test

    @Test("heartbeats go out at half the interval while the client is heard")
    mutating func heartbeatsSent() {
        handshake(heartbeat: 10)
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(5), readingPaused: false) == [.sendHeartbeat])
        machine.received(now: Self.t0 + .seconds(6))
        // Something else was sent at 8 s: no heartbeat is needed at 10 s.
        machine.sent(now: Self.t0 + .seconds(8))
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(10), readingPaused: false) == [])
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(15), readingPaused: false) == [.sendHeartbeat])
        #expect(machine.isOpen)
    }

    @Test("a client silent for two intervals is closed")
    mutating func heartbeatsMissed() {
        handshake(heartbeat: 10)
        machine.received(now: Self.t0 + .seconds(1))
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(21), readingPaused: false) == [.sendHeartbeat])
        #expect(machine.heartbeatCheck(now: Self.t0 + .milliseconds(21_001), readingPaused: false)
            == [.report(.missedHeartbeats(timeoutSeconds: 10)), .closeSocket(after: .zero)])
        #expect(machine.isClosed)
    }

    @Test("while reading is paused a silent client is not closed")
    mutating func heartbeatsPaused() {
        handshake(heartbeat: 10)
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(30), readingPaused: true) == [.sendHeartbeat])
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(45), readingPaused: false) == [.sendHeartbeat])
        #expect(machine.isOpen)
    }

    @Test("heartbeat 0 arms nothing and never closes")
    mutating func noHeartbeats() {
        handshake(heartbeat: 0)
        #expect(machine.heartbeatCheck(now: Self.t0 + .seconds(3600), readingPaused: false) == [])
    }

    // MARK: Channels

    @Test("channel traffic before open is 503; an unopened channel is 504")
    mutating func channelTraffic() {
        let qos = Command.method(channel: 1, .basicQos(BasicQos(prefetchSize: 0, prefetchCount: 1, global: false)))
        #expect(machine.route(qos, toChannel: 1, exists: false, openChannels: 0)
            == .refused(Self.closing(.commandInvalid, "COMMAND_INVALID - connection is not open")))
        var open = ConnectionStateMachine(settings: Self.settings, now: Self.t0)
        swap(&machine, &open)
        handshake()
        #expect(machine.route(qos, toChannel: 1, exists: true, openChannels: 1) == .existing)
        #expect(machine.route(qos, toChannel: 2, exists: false, openChannels: 1)
            == .refused(Self.closing(.channelError, "CHANNEL_ERROR - expected 'channel.open'", classID: 60, methodID: 10)))
    }

    @Test("channel_max counts open channels; a second open of a number is 504")
    mutating func channelOpen() {
        handshake()  // channel_max 10
        let open = Command.method(channel: 7, .channelOpen(ChannelOpen()))
        #expect(machine.route(open, toChannel: 7, exists: false, openChannels: 9) == .open)
        #expect(machine.route(open, toChannel: 7, exists: false, openChannels: 10)
            == .refused(Self.closing(.notAllowed, "NOT_ALLOWED - number of channels opened (10) has reached the negotiated channel_max (10)")))
        var again = ConnectionStateMachine(settings: Self.settings, now: Self.t0)
        swap(&machine, &again)
        handshake()
        #expect(machine.route(open, toChannel: 7, exists: true, openChannels: 1)
            == .refused(Self.closing(.channelError, "CHANNEL_ERROR - second 'channel.open' seen", classID: 20, methodID: 10)))
    }
}
