// What exchange.declare states about an exchange. Redeclaring must state the same thing
// (RabbitMQ's rabbit_exchange:assert_equivalence), otherwise the channel closes with 406.
import AMQPWire
import BrokerModel

/// An exchange as declared: its name, type, flags and arguments.
public struct ExchangeDefinition: Hashable, Sendable {
    public var name: ExchangeName
    public var type: ExchangeType
    public var durable: Bool
    public var autoDelete: Bool
    /// An internal exchange cannot be published to by clients (a RabbitMQ extension).
    public var `internal`: Bool
    public var arguments: FieldTable
    /// An `x-delayed-message` exchange: publishes with a positive `x-delay` header wait that
    /// many milliseconds, then route as `type` (its `x-delayed-type`).
    public var delayed: Bool

    public init(name: ExchangeName, type: ExchangeType, durable: Bool = false, autoDelete: Bool = false,
                internal: Bool = false, arguments: FieldTable = FieldTable(), delayed: Bool = false) {
        self.name = name
        self.type = type
        self.delayed = delayed
        self.durable = durable
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.arguments = arguments
    }

    /// The exchanges every virtual host starts with: the default exchange "" and the `amq.*`
    /// ones, all durable (AMQP 0-9-1 §3.1.3.1 and RabbitMQ's `amq.match`).
    public static let standard: [ExchangeDefinition] = [
        ExchangeDefinition(name: .default, type: .direct, durable: true),
        ExchangeDefinition(name: ExchangeName("amq.direct"), type: .direct, durable: true),
        ExchangeDefinition(name: ExchangeName("amq.fanout"), type: .fanout, durable: true),
        ExchangeDefinition(name: ExchangeName("amq.topic"), type: .topic, durable: true),
        ExchangeDefinition(name: ExchangeName("amq.headers"), type: .headers, durable: true),
        ExchangeDefinition(name: ExchangeName("amq.match"), type: .headers, durable: true),
    ]
}

extension ExchangeDefinition {
    /// The type a client declares: `x-delayed-message` for a delayed exchange.
    public var declaredType: String { delayed ? ExchangeType.delayedMessage : type.rawValue }

    /// The `alternate-exchange` argument: where messages this exchange cannot route go.
    public var alternateExchange: ExchangeName? {
        switch arguments["alternate-exchange"] {
        case .longString(let bytes)?: ExchangeName(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }
}
