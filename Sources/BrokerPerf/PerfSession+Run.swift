// The phases of a run: topology, consumers, producers, measurement, teardown.
import AMQPWire
import NIOCore

extension PerfSession {
    func run() async throws -> PerfSummary {
        let control = try await connect("setup connection")
        self.control = control
        try await declareTopology(on: control)

        for c in 0..<config.consumers {
            let connection = try await connect("consumer \(c)")
            consumers.append(connection)
            let ackEvery: Int? = if case .every(let n) = config.ackMode { n } else { nil }
            let producers = config.producers
            _ = try await wait(connection.onLoop { $0.configureConsumer(ackEvery: ackEvery, producers: producers) }, "consumer setup")
            if config.prefetch > 0 {
                try await call(connection, .basicQos(BasicQos(prefetchCount: UInt16(config.prefetch))))
            }
            if !config.backlog { try await startConsuming(connection, index: c) }
        }
        for p in 0..<config.producers {
            let connection = try await connect("producer \(p)")
            producers.append(connection)
            if config.confirm > 0 { try await call(connection, .confirmSelect(ConfirmSelect())) }
            let (exchange, routingKey) = config.publishTarget(ofProducer: p)
            let config = self.config
            let share = config.share(ofProducer: p)
            _ = try await wait(connection.onLoop {
                $0.configureProducer(exchange: exchange, routingKey: routingKey, size: config.size,
                                     persistent: config.persistent, index: p, confirm: config.confirm,
                                     rate: config.rate, share: share)
            }, "producer setup")
        }

        let summary = try await measure()

        // Teardown: producers first, so no publish races the queue deletion.
        for connection in producers + consumers {
            _ = try? await wait(connection.onLoopFuture { $0.close() }, "closing \(connection.handler.name)")
        }
        if !config.keepQueues {
            try await deleteTopology(on: control)
        }
        _ = try? await wait(control.onLoopFuture { $0.close() }, "closing the setup connection")
        return summary
    }

    private func startConsuming(_ connection: PerfConnection, index c: Int) async throws {
        try await call(connection, .basicConsume(BasicConsume(
            queue: PerfConfig.queueName(config.queue(ofConsumer: c)), consumerTag: "perf-c-\(c)",
            noAck: config.ackMode == .auto)))
    }

    private func declareTopology(on control: PerfConnection) async throws {
        let durable = config.persistent
        if config.exchange != .default {
            try await call(control, .exchangeDeclare(ExchangeDeclare(
                exchange: PerfConfig.exchangeName, type: config.exchange.rawValue, durable: durable)))
        }
        for q in 0..<config.queues {
            let name = PerfConfig.queueName(q)
            try await call(control, .queueDeclare(QueueDeclare(queue: name, durable: durable)))
            try await call(control, .queuePurge(QueuePurge(queue: name)))
            if let key = config.bindingKey(ofQueue: q) {
                try await call(control, .queueBind(QueueBind(queue: name, exchange: PerfConfig.exchangeName, routingKey: key)))
            }
        }
    }

    private func deleteTopology(on control: PerfConnection) async throws {
        for q in 0..<config.queues {
            try await call(control, .queueDelete(QueueDelete(queue: PerfConfig.queueName(q))))
        }
        if config.exchange != .default {
            try await call(control, .exchangeDelete(ExchangeDelete(exchange: PerfConfig.exchangeName)))
        }
    }

    private func snapshot(_ connections: [PerfConnection], takeLatency: Bool) async throws -> [ConnectionStats] {
        guard let first = connections.first else { return [] }
        let futures = connections.map { c in c.onLoop { $0.snapshot(takeLatency: takeLatency) } }
        return try await wait(EventLoopFuture.whenAllSucceed(futures, on: first.channel.eventLoop), "statistics")
    }

    /// Publishes until the stop condition, printing a live line every second.
    private func measure() async throws -> PerfSummary {
        var start = MonotonicClock.nanoseconds()
        var fillSeconds: Double?
        let cpuStart = ProcessCPU.seconds()
        for connection in producers {
            connection.channel.eventLoop.execute { connection.handler.startPublishing(startNanos: start) }
        }
        var latency = LatencyHistogram()
        var lastTick = start
        var lastSent: UInt64 = 0
        var lastReceived: UInt64 = 0
        var second = 0
        let timeoutAt = start + UInt64(config.timeout * 1e9)
        var end: UInt64
        while true {
            try checkFailure()
            let now = MonotonicClock.nanoseconds()
            if case .duration(let seconds) = config.stop, now >= start + UInt64(seconds * 1e9) {
                end = now
                break
            }
            if case .count = config.stop {
                let p = try await snapshot(producers, takeLatency: false)
                if config.backlog, fillSeconds == nil, p.allSatisfy(\.finishedPublishing) {
                    // Filled: the drain is measured from the consumers' start.
                    fillSeconds = Double(now - start) / 1e9
                    console.live("filled \(PerfFormat.count(p.reduce(0) { $0 + $1.sent })) msg in \(PerfFormat.fixed(fillSeconds!, 2)) s; draining")
                    for (c, connection) in consumers.enumerated() { try await startConsuming(connection, index: c) }
                    start = MonotonicClock.nanoseconds()
                    (lastTick, lastSent, lastReceived) = (start, p.reduce(0) { $0 + $1.sent }, 0)
                    continue
                }
                let c = try await snapshot(consumers, takeLatency: false)
                let received = c.reduce(0) { $0 + $1.received }
                let expected = config.expectedDeliveries(sent: p.map { Int($0.sent) })
                if p.allSatisfy(\.finishedPublishing) && received >= UInt64(expected) {
                    end = consumers.isEmpty ? now : max(start + 1, c.map(\.lastReceiveNanos).max() ?? now)
                    break
                }
                if now >= timeoutAt {
                    throw PerfError("timed out after \(PerfFormat.fixed(config.timeout, 0)) s: sent \(p.reduce(0) { $0 + $1.sent }), received \(received) of \(expected)")
                }
            }
            if now >= lastTick + 1_000_000_000 {
                second += 1
                let p = try await snapshot(producers, takeLatency: false)
                let c = try await snapshot(consumers, takeLatency: true)
                let sent = p.reduce(0) { $0 + $1.sent }
                let received = c.reduce(0) { $0 + $1.received }
                var interval = LatencyHistogram()
                for stats in c { if let h = stats.latency { interval.add(h) } }
                latency.add(interval)
                let elapsed = Double(now - lastTick) / 1e9
                console.live(PerfSummary.liveLine(second: second, sendRate: Double(sent - lastSent) / elapsed,
                                                  receiveRate: Double(received - lastReceived) / elapsed,
                                                  latency: interval.summary))
                (lastTick, lastSent, lastReceived) = (now, sent, received)
            }
            let nextCheck: UInt64 = if case .count = config.stop { 20_000_000 } else { 50_000_000 }
            try await Task.sleep(nanoseconds: nextCheck)
        }
        for connection in producers {
            _ = try await wait(connection.onLoop { $0.stopPublishing() }, "stopping \(connection.handler.name)")
        }
        let p = try await snapshot(producers, takeLatency: false)
        let c = try await snapshot(consumers, takeLatency: true)
        let cpu = ProcessCPU.seconds() - cpuStart
        console.endLive()
        for stats in c { if let h = stats.latency { latency.add(h) } }
        return PerfSummary(
            sent: p.reduce(0) { $0 + $1.sent }, received: c.reduce(0) { $0 + $1.received },
            confirmed: config.confirm > 0 ? p.reduce(0) { $0 + $1.acked } : nil,
            nacked: config.confirm > 0 ? p.reduce(0) { $0 + $1.nacked } : nil,
            outOfOrder: c.reduce(0) { $0 + $1.outOfOrder },
            seconds: Double(end - start) / 1e9, fillSeconds: fillSeconds, latency: latency.summary, cpuSeconds: cpu)
    }
}
