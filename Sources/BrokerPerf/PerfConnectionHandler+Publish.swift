// The producer role: publish passes, each one batch of template copies in one buffer with
// one write+flush, repeated through `eventLoop.execute` so reads (confirms) interleave.
// A pass publishes nothing — and the producer waits for an event — when the channel is not
// writable (resumed by channelWritabilityChanged), the confirm window is full (resumed by a
// confirm) or the rate limiter says wait (resumed by a timer, at least 1 ms away).
import AMQPWire
import NIOCore

/// A producer's state, owned by its connection's event loop.
final class ProducerState {
    let template: PublishTemplate
    var window: ConfirmWindow?
    var limiter: RateLimiter?
    let rate: Double
    /// Messages left in count mode.
    var remaining: Int?
    var sequence: UInt16 = 0
    var running = false
    var passScheduled = false
    var timer: Scheduled<Void>?
    /// Messages per pass: about 64 KiB worth, at least 1, at most 1024.
    let batchLimit: Int

    init(template: PublishTemplate, confirm: Int, rate: Double, share: Int?) {
        self.template = template
        self.window = confirm > 0 ? ConfirmWindow(limit: confirm) : nil
        self.rate = rate
        self.remaining = share
        self.batchLimit = max(1, min(1024, 65_536 / template.bytes.readableBytes))
    }
}

extension PerfConnectionHandler {
    /// Makes this connection a producer (after `confirm.select` when confirming).
    func configureProducer(exchange: String, routingKey: String, size: Int, persistent: Bool,
                           index: Int, confirm: Int, rate: Double, share: Int?) {
        let template = PublishTemplate(exchange: exchange, routingKey: routingKey, size: size,
                                       persistent: persistent, producer: UInt16(index), frameMax: frameMax)
        producer = ProducerState(template: template, confirm: confirm, rate: rate, share: share)
    }

    /// Starts publishing; the rate schedule starts at `startNanos`.
    func startPublishing(startNanos: UInt64) {
        guard let producer else { return }
        if producer.rate > 0 { producer.limiter = RateLimiter(rate: producer.rate, start: startNanos) }
        producer.running = true
        schedulePublishPass()
    }

    /// Stops publishing (what is written stays written).
    func stopPublishing() {
        producer?.running = false
        producer?.timer?.cancel()
    }

    func schedulePublishPass() {
        guard let producer, producer.running, !producer.passScheduled else { return }
        producer.passScheduled = true
        eventLoop.execute { self.publishPass() }
    }

    private func publishPass() {
        guard let producer, let context else { return }
        producer.passScheduled = false
        guard producer.running, context.channel.isWritable else { return }
        var n = producer.batchLimit
        if let remaining = producer.remaining {
            guard remaining > 0 else { return }
            n = min(n, remaining)
        }
        if let window = producer.window {
            n = min(n, window.available)
            guard n > 0 else { return }
        }
        let now = MonotonicClock.nanoseconds()
        if producer.limiter != nil {
            n = min(n, producer.limiter!.permits(now: now))
            guard n > 0 else {
                let wait = max(producer.limiter!.nanosUntilNext(now: now), 1_000_000)
                producer.passScheduled = true
                producer.timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(wait))) {
                    self.producer?.passScheduled = false
                    self.publishPass()
                }
                return
            }
            producer.limiter!.consume(n)
        }
        let template = producer.template
        var buffer = context.channel.allocator.buffer(capacity: n * template.bytes.readableBytes)
        var sequence = producer.sequence
        for _ in 0..<n {
            template.append(into: &buffer, nanos: now, sequence: sequence)
            sequence &+= 1
        }
        producer.sequence = sequence
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        stats.sent += UInt64(n)
        producer.window?.published(n)
        if let remaining = producer.remaining {
            producer.remaining = remaining - n
            if remaining == n {
                producer.running = false
                updatePublishingFinished()
                return
            }
        }
        schedulePublishPass()
    }

    /// A `basic.ack` / `basic.nack` from the broker.
    func confirmed(tag: UInt64, multiple: Bool, ack: Bool) {
        guard let producer, producer.window != nil else { return }
        producer.window!.settle(deliveryTag: tag, multiple: multiple, ack: ack)
        stats.acked = producer.window!.acked
        stats.nacked = producer.window!.nacked
        updatePublishingFinished()
        schedulePublishPass()
    }

    private func updatePublishingFinished() {
        guard let producer, producer.remaining == 0 else { return }
        stats.finishedPublishing = (producer.window?.inFlight ?? 0) == 0
    }
}
