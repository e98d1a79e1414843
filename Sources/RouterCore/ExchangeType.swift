// The four exchange types of AMQP 0-9-1 that RabbitMQ ships with (plus delayed exchanges,
// which route as one of them). The raw value is the name a
// client sends in exchange.declare.

/// How an exchange picks the queues a message goes to.
public enum ExchangeType: String, Sendable, Hashable, CaseIterable {
    /// Routing key equals binding key.
    case direct
    /// Every bound queue, whatever the key.
    case fanout
    /// Binding key is a pattern of dot-separated words with `*` and `#` (see `TopicMatcher`).
    case topic
    /// Message headers against binding arguments (see `HeadersMatcher`).
    case headers

    /// The type name of delayed exchanges (RabbitMQ's delayed-message plugin); they route as
    /// the type named by their `x-delayed-type` argument.
    public static let delayedMessage = "x-delayed-message"
}
