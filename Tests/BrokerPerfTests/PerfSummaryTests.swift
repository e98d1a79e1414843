import AMQPWire
import Testing
@testable import BrokerPerf

@Suite struct PerfSummaryTests {
    private let latency = LatencySummary(p50: 210, p95: 800, p99: 1_234, p999: 15_000, max: 2_500_000, count: 10)

    @Test func jsonHasTheDocumentedFields() {
        let summary = PerfSummary(sent: 1000, received: 990, seconds: 2, latency: latency, cpuSeconds: 0.5)
        #expect(summary.json() == #"{"sent":1000,"received":990,"seconds":2.000,"send_rate":500.0,"receive_rate":495.0,"latency_us":{"p50":210,"p95":800,"p99":1234,"p999":15000,"max":2500000},"cpu_us_per_msg":505.051,"cpu_seconds":0.500,"out_of_order":0}"#)
    }

    @Test func jsonCarriesConfirmsAndNullLatency() {
        let summary = PerfSummary(sent: 10, received: 0, confirmed: 9, nacked: 1, seconds: 1, latency: nil, cpuSeconds: 0.001)
        let json = summary.json()
        #expect(json.contains(#""latency_us":null"#))
        #expect(json.contains(#""confirmed":9,"nacked":1"#))
        // Nothing received: CPU per message sent.
        #expect(json.contains(#""cpu_us_per_msg":100.000"#))
    }

    @Test func liveLineShowsRatesAndLatency() {
        #expect(PerfSummary.liveLine(second: 3, sendRate: 312_405.4, receiveRate: 310_022, latency: latency)
            == "t=3s sent 312,405 msg/s  received 310,022 msg/s  latency p50 210µs p99 1.2ms")
        #expect(PerfSummary.liveLine(second: 1, sendRate: 0, receiveRate: 0, latency: nil)
            == "t=1s sent 0 msg/s  received 0 msg/s")
    }

    @Test func textSummaryHasTotalsPercentilesAndCost() {
        let text = PerfSummary(sent: 1_000_000, received: 999_000, outOfOrder: 2, seconds: 10,
                               latency: latency, cpuSeconds: 3).text()
        #expect(text.contains("sent 1,000,000 msg, received 999,000 msg in 10.00 s"))
        #expect(text.contains("send rate 100,000 msg/s, receive rate 99,900 msg/s"))
        #expect(text.contains("latency p50 210µs  p95 800µs  p99 1.2ms  p99.9 15ms  max 2.50s"))
        #expect(text.contains("2 deliveries out of publish order"))
        #expect(text.contains("= 3.00 µs/msg"))
    }

    @Test func formatsNumbers() {
        #expect(PerfFormat.count(0) == "0")
        #expect(PerfFormat.count(999) == "999")
        #expect(PerfFormat.count(1_234_567) == "1,234,567")
        #expect(PerfFormat.fixed(1.005, 2) == "1.00" || PerfFormat.fixed(1.005, 2) == "1.01")
        #expect(PerfFormat.fixed(2.5, 0) == "3")
        #expect(PerfFormat.fixed(0.05, 3) == "0.050")
        #expect(PerfFormat.micros(999) == "999µs")
        #expect(PerfFormat.micros(9_949) == "9.9ms")
        #expect(PerfFormat.micros(123_456) == "123ms")
    }

    @Test func latencyHistogramMergesAndClamps() {
        var a = LatencyHistogram()
        var b = LatencyHistogram()
        for v in 1...99 { a.record(micros: UInt64(v)) }
        b.record(micros: 100_000_000_000) // 100,000 s: clamped to 60 s
        a.add(b)
        let s = a.summary!
        #expect(s.count == 100)
        #expect(s.p50 == 50)
        #expect(s.max >= 59_000_000 && s.max <= 60_100_000)
        #expect(LatencyHistogram().summary == nil)
    }
}

@Suite struct ClientHandshakeTests {
    @Test func negotiatesPlainTuneOpenAndChannel() {
        var handshake = ClientHandshake(uri: AMQPURI(user: "u", password: "p", vhost: "v"))
        var step = handshake.receive(.connectionStart(ConnectionStart(
            versionMajor: 0, versionMinor: 9, mechanisms: Array("AMQPLAIN PLAIN".utf8), locales: Array("en_US".utf8))), channel: 0)
        guard case .connectionStartOk(let startOk) = step.send.first?.method else {
            Issue.record("no start-ok")
            return
        }
        #expect(startOk.mechanism == "PLAIN")
        #expect(startOk.response == [0] + Array("u".utf8) + [0] + Array("p".utf8))
        step = handshake.receive(.connectionTune(ConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60)), channel: 0)
        #expect(step.send == [
            OutgoingMethod(0, .connectionTuneOk(ConnectionTuneOk(channelMax: 2047, frameMax: 131_072, heartbeat: 0))),
            OutgoingMethod(0, .connectionOpen(ConnectionOpen(virtualHost: "v"))),
        ])
        step = handshake.receive(.connectionOpenOk(ConnectionOpenOk()), channel: 0)
        #expect(step.send == [OutgoingMethod(1, .channelOpen(ChannelOpen()))])
        #expect(!handshake.isOpen)
        step = handshake.receive(.channelOpenOk(ChannelOpenOk()), channel: 1)
        #expect(step.readyFrameMax == 131_072)
        #expect(handshake.isOpen)
    }

    @Test func aBrokerCloseIsAFailureWithItsReason() {
        var handshake = ClientHandshake(uri: AMQPURI())
        _ = handshake.receive(.connectionStart(ConnectionStart(mechanisms: Array("PLAIN".utf8))), channel: 0)
        let step = handshake.receive(.connectionClose(ConnectionClose(replyCode: 403, replyText: "ACCESS_REFUSED - bad login")), channel: 0)
        #expect(step.failure == "broker closed the connection: 403 ACCESS_REFUSED - bad login")
        #expect(step.send == [OutgoingMethod(0, .connectionCloseOk(ConnectionCloseOk()))])
    }

    @Test func refusesABrokerWithoutPlain() {
        var handshake = ClientHandshake(uri: AMQPURI())
        let step = handshake.receive(.connectionStart(ConnectionStart(mechanisms: Array("EXTERNAL".utf8))), channel: 0)
        #expect(step.failure?.contains("PLAIN") == true)
    }

    @Test func frameMaxZeroMeansOurDefault() {
        var handshake = ClientHandshake(uri: AMQPURI())
        _ = handshake.receive(.connectionStart(ConnectionStart(mechanisms: Array("PLAIN".utf8))), channel: 0)
        let step = handshake.receive(.connectionTune(ConnectionTune(frameMax: 0)), channel: 0)
        guard case .connectionTuneOk(let ok) = step.send.first?.method else { Issue.record("no tune-ok"); return }
        #expect(ok.frameMax == 131_072)
    }
}
