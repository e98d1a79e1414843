// BrokerPerf: `broker perf`, a load generator for any AMQP 0-9-1 broker, in the spirit of
// RabbitMQ's PerfTest.
//
// Responsibilities: open one AMQP connection per producer and per consumer (SwiftNIO, one
// event loop per core), declare and purge the `perf-q-<i>` queues, publish at full speed or
// at a fixed rate (optionally with publisher confirms), consume with autoack or multiple-acks,
// and report rates and end-to-end latency (HdrHistogram) every second and at the end.
//
// Collaborators: AMQPWire encodes and decodes every frame; the `broker` executable parses the
// command line into a ``PerfOptions`` and runs a ``PerfRunner``.
//
// Invariants:
// - The tool must stay cheap per message: publishes are copied from a pre-encoded template
//   and patched in place, many per buffer, one write+flush per event-loop pass; consumers
//   read the 12-byte stamp from the body slice without assembling or copying the body.
// - Each connection's state is touched only on its own event loop; the runner reads it by
//   submitting a task to that loop (no locks in the data path).
// - The pure parts (config validation, rate limiting, confirm window, ack batching, stamps,
//   formatting) are small value types with no I/O, tested in Tests/BrokerPerfTests.
