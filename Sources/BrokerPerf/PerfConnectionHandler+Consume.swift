// The consumer role: each completed delivery is counted, its latency recorded in this
// connection's histogram (one event loop, no sharing; merged by the runner), its order
// checked, and — with manual acks — acked every N, the acks of one read burst written
// together at channelReadComplete.
import AMQPWire
import NIOCore

/// A consumer's state, owned by its connection's event loop.
final class ConsumerState {
    var acks: AckBatcher?
    var sequences: SequenceTracker
    var latency = LatencyHistogram()

    init(ackEvery: Int?, producers: Int) {
        self.acks = ackEvery.map { AckBatcher(every: $0) }
        self.sequences = SequenceTracker(producers: producers)
    }
}

extension PerfConnectionHandler {
    /// Makes this connection a consumer (before `basic.consume`).
    func configureConsumer(ackEvery: Int?, producers: Int) {
        consumer = ConsumerState(ackEvery: ackEvery, producers: producers)
    }

    func delivered(_ delivery: DeliveryTracker.Delivery) {
        guard let consumer else { return }
        stats.received += 1
        stats.lastReceiveNanos = readNanos
        if let stamp = delivery.stamp {
            consumer.latency.record(micros: stamp.latencyMicros(receivedNanos: readNanos))
            if !consumer.sequences.observe(producer: stamp.producer, sequence: stamp.sequence) {
                stats.outOfOrder += 1
            }
        }
        if let ack = consumer.acks?.delivered(tag: delivery.tag) {
            guard let context else { return }
            if pendingOutput == nil { pendingOutput = context.channel.allocator.buffer(capacity: 1024) }
            FrameEncoder.encodeMethod(channel: 1, .basicAck(ack), into: &pendingOutput!)
        }
    }
}
