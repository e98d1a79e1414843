import AMQPWire
import RouterCore
import Testing

@Suite("TuneNegotiation")
struct TuneNegotiationTests {
    let offered = ConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60)

    func refusal(_ channelMax: UInt16, _ frameMax: UInt32) -> String? {
        TuneNegotiation.refusal(of: ConnectionTuneOk(channelMax: channelMax, frameMax: frameMax, heartbeat: 0), offered: offered)?.text
    }

    @Test("values within what the server offered are accepted")
    func accepted() {
        #expect(refusal(10, 4096) == nil)
        #expect(refusal(2047, 131_072) == nil)
        #expect(refusal(1, 4096) == nil)
    }

    @Test("0 (no limit) or more than offered is refused with RabbitMQ's words")
    func aboveTheMaximum() {
        #expect(refusal(0, 131_072) == "NOT_ALLOWED - negotiated channel_max = 0 (no limit) is higher than the maximum allowed value (2047)")
        #expect(refusal(2048, 131_072) == "NOT_ALLOWED - negotiated channel_max = 2048 is higher than the maximum allowed value (2047)")
        #expect(refusal(10, 0) == "NOT_ALLOWED - negotiated frame_max = 0 is higher than the maximum allowed value (131072)")
        #expect(refusal(10, 131_073) == "NOT_ALLOWED - negotiated frame_max = 131073 is higher than the maximum allowed value (131072)")
    }

    @Test("a frame_max below frame-min-size is refused")
    func belowTheMinimum() {
        #expect(refusal(10, 4095) == "NOT_ALLOWED - negotiated frame_max = 4095 is lower than the minimum allowed value (4096)")
    }

    @Test("with no server limit, 0 is accepted")
    func unlimitedServer() {
        #expect(TuneNegotiation.refusal(of: ConnectionTuneOk(channelMax: 0, frameMax: 0, heartbeat: 0),
                                        offered: ConnectionTune(channelMax: 0, frameMax: 0, heartbeat: 0)) == nil)
    }
}
