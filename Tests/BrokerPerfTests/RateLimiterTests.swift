import Testing
@testable import BrokerPerf

@Suite struct RateLimiterTests {
    @Test func releasesTheFirstMessageAtTheStart() {
        var limiter = RateLimiter(rate: 1000, start: 1_000)
        let m1 = limiter.permits(now: 999)
        #expect(m1 == 0)
        let m2 = limiter.permits(now: 1_000)
        #expect(m2 == 1)
    }

    @Test func releasesRateTimesElapsedSeconds() {
        var limiter = RateLimiter(rate: 10_000, start: 0, burst: 1_000_000)
        // 10 ms at 10k/s: messages 0...100 are due.
        let m3 = limiter.permits(now: 10_000_000)
        #expect(m3 == 101)
        limiter.consume(101)
        let m4 = limiter.permits(now: 10_000_000)
        #expect(m4 == 0)
        let m5 = limiter.permits(now: 10_100_000)
        #expect(m5 == 1)
    }

    @Test func nanosUntilNextPointsAtTheNextDueMessage() {
        var limiter = RateLimiter(rate: 1000, start: 0)
        limiter.consume(limiter.permits(now: 0))
        #expect(limiter.nanosUntilNext(now: 0) == 1_000_000)
        #expect(limiter.nanosUntilNext(now: 400_000) == 600_000)
        #expect(limiter.nanosUntilNext(now: 2_000_000) == 0)
    }

    @Test func forfeitsABacklogLargerThanTheBurst() {
        var limiter = RateLimiter(rate: 10_000, start: 0)
        #expect(limiter.burst == 100)
        // One second stalled: 10,001 due, only a burst goes out.
        let m6 = limiter.permits(now: 1_000_000_000)
        #expect(m6 == 100)
        limiter.consume(100)
        let m7 = limiter.permits(now: 1_000_000_000)
        #expect(m7 == 0)
    }

    @Test func sustainedSendingMatchesTheRate() {
        var limiter = RateLimiter(rate: 5000, start: 0)
        var sent = 0
        var now: UInt64 = 0
        while now <= 2_000_000_000 {
            let n = limiter.permits(now: now)
            limiter.consume(n)
            sent += n
            now += max(limiter.nanosUntilNext(now: now), 1_000_000)
        }
        #expect((9_990...10_010).contains(sent))
    }
}
