// The headers RabbitMQ writes on a dead-lettered message (`x-death`, `x-first-death-*`) and
// its rule against dead-letter cycles. Pure: the router's Republisher routes the result.
import AMQPWire
import BrokerModel
import LinkWire

public enum DeadLetterHeaders {
    /// The routing keys in a message's `CC` header.
    public static func ccKeys(of properties: BasicProperties) -> [String] {
        guard case .array(let values)? = properties.headers?["CC"] else { return [] }
        return values.compactMap(\.stringValue)
    }

    /// Adds this death to `x-death` (count per queue and reason, newest first) and the
    /// `x-first-death-*` headers; returns the x-death entries as (queue, reason).
    public static func recordDeath(_ event: DeadLetterEvent, routingKeys: [String], in properties: inout BasicProperties,
                            nowSeconds: UInt64) -> [(String, String)] {
        var headers = properties.headers ?? FieldTable()
        var deaths: [FieldValue] = []
        if case .array(let existing)? = headers["x-death"] { deaths = existing }
        let queueName = event.queue.name.name
        let reason = event.reason.name
        var count: Int64 = 1
        if let index = deaths.firstIndex(where: { entry in
            guard case .table(let table) = entry else { return false }
            return table["queue"] == .longString(Array(queueName.utf8)) && table["reason"] == .longString(Array(reason.utf8))
        }) {
            if case .table(let old) = deaths[index], case .int64(let previous)? = old["count"] { count = previous + 1 }
            deaths.remove(at: index)
        }
        var entry: FieldTable = [
            "count": .int64(count),
            "reason": .longString(Array(reason.utf8)),
            "queue": .longString(Array(queueName.utf8)),
            "time": .timestamp(nowSeconds),
            "exchange": .longString(Array(event.message.exchange.utf8)),
            "routing-keys": .array(routingKeys.map { .longString(Array($0.utf8)) }),
        ]
        // The expiration is moved aside so that the message does not expire again wherever
        // it is routed next (RabbitMQ's original-expiration).
        if let expiration = properties.expiration {
            entry["original-expiration"] = .longString(Array(expiration.utf8))
            properties.expiration = nil
        }
        deaths.insert(.table(entry), at: 0)
        headers["x-death"] = .array(deaths)
        if headers["x-first-death-reason"] == nil {
            headers["x-first-death-reason"] = .longString(Array(reason.utf8))
            headers["x-first-death-queue"] = .longString(Array(queueName.utf8))
            headers["x-first-death-exchange"] = .longString(Array(event.message.exchange.utf8))
        }
        properties.headers = headers
        return deaths.compactMap { value in
            guard case .table(let t) = value, case .longString(let q)? = t["queue"], case .longString(let r)? = t["reason"] else { return nil }
            return (String(decoding: q, as: UTF8.self), String(decoding: r, as: UTF8.self))
        }
    }

    /// RabbitMQ drops a message that would return to a queue it already died in, unless a
    /// client rejected it somewhere on the way (then the loop is the application's choice).
    public static func isCycle(_ queue: QueueName, deaths: [(String, String)]) -> Bool {
        guard deaths.contains(where: { $0.0 == queue.name }) else { return false }
        return !deaths.contains(where: { $0.1 == DeadLetterReason.rejected.name })
    }
}
