// basic.publish routing over a topology snapshot: the hot path. It reads only, allocates the
// result array and nothing else for up to `linearDedupLimit` matches, and resolves each bound
// queue name to its record (the record says which worker owns it).
import AMQPWire
import BrokerModel

extension Topology {
    // Up to this many distinct queues a linear scan deduplicates faster than a Set.
    private static let linearDedupLimit = 16

    /// The queues a message published to `exchange` with `routingKey` (and `headers`, for
    /// headers exchanges) goes to: deduplicated, in binding order. Publishing to a missing
    /// exchange is 404 and to an internal one 403; the default exchange routes to the queue
    /// named by the routing key, if there is one.
    public func route(exchange: ExchangeName, routingKey: String, headers: FieldTable?,
                      in vhost: VHost) throws(TopologyError) -> [QueueRecord] {
        try route(exchange: exchange, routingKey: routingKey, headers: { headers }, in: vhost)
    }

    /// As above, with the message headers decoded only if a headers exchange is reached.
    public func route(exchange: ExchangeName, routingKey: String, headers decodeHeaders: () -> FieldTable?,
                      in vhost: VHost) throws(TopologyError) -> [QueueRecord] {
        guard let state = vhosts[vhost] else {
            // An untouched vhost has the standard exchanges, no queues, no bindings.
            if exchange == .default || Self.standardVHost.exchanges[exchange] != nil { return [] }
            throw TopologyError.noExchange(exchange, vhost)
        }
        if exchange == .default {
            guard let record = state.queues[QueueName(routingKey)] else { return [] }
            return [record]
        }
        guard let target = state.exchanges[exchange] else { throw TopologyError.noExchange(exchange, vhost) }
        if target.definition.internal {
            throw TopologyError.accessRefused(
                "cannot publish to internal " + TopologyError.resource("exchange", exchange.name, vhost))
        }
        var result: [QueueRecord] = []
        var seen: Set<QueueName>? = nil
        // Exchanges reached through exchange-to-exchange bindings or alternate exchanges;
        // empty (no allocation) in the common case of one exchange routing to queues.
        var visited: [ExchangeName] = []
        var next: [ExchangeName] = []
        var current = target
        var currentName = exchange
        var headers: FieldTable?
        var headersDecoded = false
        while true {
            if current.definition.type == .headers, !headersDecoded {
                headers = decodeHeaders()
                headersDecoded = true
            }
            var matchedAny = false
            current.routes.forEachMatch(routingKey: routingKey, headers: headers) { destination in
                matchedAny = true
                switch destination {
                case .queue(let name):
                    Self.append(name, from: state, to: &result, seen: &seen)
                case .exchange(let name):
                    if name != exchange, name != currentName, !visited.contains(name), !next.contains(name) {
                        next.append(name)
                    }
                }
            }
            // RabbitMQ: a message the exchange itself routes nowhere goes to its alternate exchange.
            if !matchedAny, let alternate = current.definition.alternateExchange,
               alternate != exchange, alternate != currentName, !visited.contains(alternate), !next.contains(alternate) {
                next.append(alternate)
            }
            guard !next.isEmpty else { break }
            visited.append(currentName)
            currentName = next.removeFirst()
            guard let exchange = state.exchanges[currentName] else { continue }
            current = exchange
        }
        return result
    }

    private static func append(_ name: QueueName, from state: VHostState, to result: inout [QueueRecord],
                               seen: inout Set<QueueName>?) {
        if var set = seen {
            seen = nil  // keep the set uniquely referenced while inserting
            let inserted = set.insert(name).inserted
            seen = set
            guard inserted else { return }
        } else {
            if result.contains(where: { $0.id.name == name }) { return }
            if result.count == linearDedupLimit {
                var set = Set(result.map(\.id.name))
                set.insert(name)
                seen = set
            }
        }
        // A binding never outlives its queue, so the record is there.
        if let record = state.queues[name] { result.append(record) }
    }
}
