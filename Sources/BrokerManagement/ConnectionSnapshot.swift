// What the management API shows of client connections, their channels and consumers: a
// copy the router takes on each connection's own event loop (the only place its state may
// be read), turned into RabbitMQ's JSON here.
import AMQPWire
import BrokerModel
import BrokerTelemetry

public struct ConnectionSnapshot: Sendable {
    public var id: ConnectionID
    /// RabbitMQ's connection name: "peer_host:peer_port -> host:port".
    public var name: String
    public var peerHost: String
    public var peerPort: Int
    public var host: String
    public var port: Int
    public var user: String
    public var vhost: String
    public var state: String
    public var authMechanism: String
    public var clientProperties: FieldTable
    public var connectedAt: UInt64
    public var frameMax: UInt32
    public var channelMax: UInt16
    public var heartbeat: UInt16
    public var channels: [Channel]
    /// It came in on the TLS listener.
    public var tls = false

    public init(id: ConnectionID, name: String, peerHost: String, peerPort: Int, host: String, port: Int, user: String,
                vhost: String, state: String, authMechanism: String, clientProperties: FieldTable, connectedAt: UInt64,
                frameMax: UInt32, channelMax: UInt16, heartbeat: UInt16, channels: [Channel]) {
        self.id = id
        self.name = name
        self.peerHost = peerHost
        self.peerPort = peerPort
        self.host = host
        self.port = port
        self.user = user
        self.vhost = vhost
        self.state = state
        self.authMechanism = authMechanism
        self.clientProperties = clientProperties
        self.connectedAt = connectedAt
        self.frameMax = frameMax
        self.channelMax = channelMax
        self.heartbeat = heartbeat
        self.channels = channels
    }

    public struct Channel: Sendable {
        public var number: UInt16
        public var consumerCount: Int
        public var unacknowledged: Int
        public var prefetchCount: UInt16
        public var globalPrefetchCount: UInt32
        public var confirm: Bool
        public var transactional: Bool
        public var consumers: [Consumer]

        public init(number: UInt16, consumerCount: Int, unacknowledged: Int, prefetchCount: UInt16,
                    globalPrefetchCount: UInt32, confirm: Bool, transactional: Bool, consumers: [Consumer]) {
            self.number = number
            self.consumerCount = consumerCount
            self.unacknowledged = unacknowledged
            self.prefetchCount = prefetchCount
            self.globalPrefetchCount = globalPrefetchCount
            self.confirm = confirm
            self.transactional = transactional
            self.consumers = consumers
        }
    }

    public struct Consumer: Sendable {
        public var tag: String
        public var queue: QueueName
        public var ackRequired: Bool
        public var exclusive: Bool
        public var prefetchCount: UInt16
        public var arguments: FieldTable

        public init(tag: String, queue: QueueName, ackRequired: Bool, exclusive: Bool, prefetchCount: UInt16, arguments: FieldTable) {
            self.tag = tag
            self.queue = queue
            self.ackRequired = ackRequired
            self.exclusive = exclusive
            self.prefetchCount = prefetchCount
            self.arguments = arguments
        }
    }

    func channelName(_ number: UInt16) -> String { "\(name) (\(number))" }
}
