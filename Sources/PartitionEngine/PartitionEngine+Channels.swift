// Channel-wide limits on this worker: the share of a global basic.qos that the router
// hands out (design invariant 5), and the delivery-acknowledgement timeout.
import BrokerModel
import LinkWire

extension PartitionEngine {
    /// Sets the channel's share and reports how much of it is in use; if more than the share
    /// is unacked, reports again once that fits, so the router knows when credit taken from
    /// this worker may be given to another.
    mutating func setChannelLimit(_ number: ChannelNumber, _ limit: UInt32?, from connection: ConnectionID,
                                  into output: inout EngineOutput) {
        let channel = self.channel(number, of: connection)
        channel.limit = limit
        channel.creditWanted = false
        channel.loweredLimitPending = false
        if let limit {
            output.send(.channelShareUsage(channel: number, limit: limit, unacked: UInt32(clamping: channel.consumerUnacked)),
                        to: connection)
            channel.loweredLimitPending = channel.consumerUnacked > Int(limit)
        }
        var touched = takeScratch()
        for consumer in channel.consumers { noteTouched(consumer.queue, in: &touched) }
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    /// Reports channels whose oldest unacked delivery is older than its queue's consumer
    /// timeout, once per channel; the router closes them (RabbitMQ looks at the oldest one
    /// too). Checked every `consumerTimeoutCheckInterval` milliseconds, not on every tick.
    mutating func checkConsumerTimeouts(into output: inout EngineOutput) {
        guard now >= nextTimeoutCheck else { return }
        nextTimeoutCheck = now &+ Self.consumerTimeoutCheckInterval
        for (connection, state) in connections {
            for channel in state.channels.values where !channel.timedOut {
                guard let oldest = channel.unacked.first else { continue }
                let timeout = oldest.queue.consumerTimeout(default: consumerTimeout)
                if now &- oldest.deliveredAt > timeout {
                    channel.timedOut = true
                    output.send(.channelTimedOut(channel: channel.number, timeout: timeout), to: connection)
                }
            }
        }
    }

    /// How often consumer timeouts are checked (milliseconds).
    static let consumerTimeoutCheckInterval: UInt64 = 100
}

extension PartitionEngine {
    /// The connection's stream to the router is full or has drained: deliveries to its
    /// consumers stop, or resume (its consumers' queues are dispatched again).
    public mutating func setPaused(_ paused: Bool, connection: ConnectionID, now: UInt64, into output: inout EngineOutput) {
        self.now = now
        guard let state = connections[connection], state.paused != paused else { return }
        state.paused = paused
        guard !paused else { return }
        var touched = takeScratch()
        for channel in state.channels.values {
            for consumer in channel.consumers { noteTouched(consumer.queue, in: &touched) }
        }
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }

    /// The worker has handed its output to the links: connections whose deliveries filled
    /// their share of that output get deliveries again.
    public mutating func outputFlushed(now: UInt64, into output: inout EngineOutput) {
        self.now = now
        guard !ledger.touched.isEmpty else { return }
        let touchedConnections = ledger.touched
        ledger.touched.removeAll(keepingCapacity: true)
        var touched = takeScratch()
        for state in touchedConnections {
            state.unflushedBytes = 0
            guard state.outputFull else { continue }
            state.outputFull = false
            for channel in state.channels.values {
                for consumer in channel.consumers { noteTouched(consumer.queue, in: &touched) }
            }
        }
        for queue in touched { queue.dispatch(now: now, into: &output) }
        returnScratch(&touched)
    }
}

extension EngineConnection {
    /// Counts a delivery's bytes towards the output limit.
    func produced(_ message: LinkMessage, ledger: OutputLedger) {
        if unflushedBytes == 0 { ledger.touched.append(self) }
        unflushedBytes &+= message.body.readableBytes &+ message.properties.readableBytes &+ 64
        if unflushedBytes > Self.outputLimit { outputFull = true }
    }
}
