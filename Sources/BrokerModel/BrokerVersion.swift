// Which broker this is, and which RabbitMQ it behaves as.
public enum BrokerVersion {
    public static let string = "0.1.0"
    /// The RabbitMQ release whose behaviour the broker follows. Clients, tools and client test
    /// suites read a RabbitMQ version (and the product "RabbitMQ") to pick features, so this is
    /// what connection.start and the management API's rabbitmq_version report.
    public static let rabbitmq = "3.10.8"
}
