// What a worker reports to the router over the link (GET /v1/stats, JSON): its message
// counters since start, its queues, its process figures and latency histograms.

public struct WorkerStats: Codable, Sendable, Equatable {
    /// Counters since the worker started; they only grow.
    public struct Counters: Codable, Sendable, Equatable {
        /// Copies of published messages accepted into queues (one per queue).
        public var enqueued: UInt64 = 0
        /// basic.deliver and basic.get-ok handed to clients.
        public var delivered: UInt64 = 0
        /// Deliveries among them that were redeliveries.
        public var redelivered: UInt64 = 0
        public var acked: UInt64 = 0
        /// Deliveries rejected or nacked without requeue.
        public var discarded: UInt64 = 0
        /// Deliveries put back in their queue (nack/reject with requeue, recover, channel close).
        public var requeued: UInt64 = 0
        /// Messages that expired (message TTL).
        public var expired: UInt64 = 0
        /// Messages dropped for a length limit (drop-head) or refused by reject-publish.
        public var overflowed: UInt64 = 0
        /// Ready messages removed by queue.purge or queue deletion.
        public var purged: UInt64 = 0
        /// Messages handed to a dead-letter exchange.
        public var deadLettered: UInt64 = 0

        public init() {}
    }

    public struct Queue: Codable, Sendable, Equatable {
        public var vhost: String
        public var name: String
        public var durable: Bool
        public var exclusive: Bool
        public var autoDelete: Bool
        public var ready: Int
        public var unacked: Int
        public var consumers: Int
        /// The declare's `arguments` field table, AMQP-encoded; nil when empty.
        public var arguments: [UInt8]?

        public init(vhost: String, name: String, durable: Bool, exclusive: Bool, autoDelete: Bool,
                    ready: Int, unacked: Int, consumers: Int, arguments: [UInt8]? = nil) {
            self.vhost = vhost
            self.name = name
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.ready = ready
            self.unacked = unacked
            self.consumers = consumers
            self.arguments = arguments
        }
    }

    /// The worker's message store, since the worker started.
    public struct Store: Codable, Sendable, Equatable {
        /// pwrite calls (one per event-loop tick that recorded something) and their bytes.
        public var writes: UInt64 = 0
        public var writtenBytes: UInt64 = 0
        /// fdatasync rounds (each covers every confirm waiting when it started).
        public var syncs: UInt64 = 0
        /// How long a sync round took, thread hop included: what a confirm waits at least.
        public var syncLatency = LatencyBuckets()
        /// Segment files on disk now, and their bytes.
        public var segments: Int = 0
        public var diskBytes: UInt64 = 0

        public init() {}
    }

    public var partition: Int
    public var counters: Counters
    /// nil when the worker has no data directory.
    public var store: Store?
    public var queues: [Queue]
    /// Messages held by x-delayed-message exchanges on this partition.
    public var delayed: Int
    public var process: ProcessFigures
    /// How long messages waited in their queue before delivery.
    public var queueWait: LatencyBuckets
    /// How late the worker's periodic tick ran (event-loop lag).
    public var loopLag: LatencyBuckets

    public init(partition: Int, counters: Counters, queues: [Queue], delayed: Int, process: ProcessFigures,
                queueWait: LatencyBuckets, loopLag: LatencyBuckets, store: Store? = nil) {
        self.store = store
        self.partition = partition
        self.counters = counters
        self.queues = queues
        self.delayed = delayed
        self.process = process
        self.queueWait = queueWait
        self.loopLag = loopLag
    }
}
