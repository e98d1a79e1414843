// The router's view of virtual hosts, exchanges, bindings and queues: a value type that the
// router publishes as an immutable snapshot (it swaps one reference atomically on change; the
// publish path only reads). Mutations are the rare path: declare, delete, bind, unbind, and
// queues appearing or going away as workers confirm them.
// Invariants:
// - the virtual hosts are those `access` lists (made and deleted by operators; "/" at first);
//   each has the default exchange "" and amq.direct/fanout/topic/headers/match, which cannot
//   be deleted;
// - a binding exists only while its exchange and its queue both exist;
// - an auto-delete exchange goes away when its last binding does (RabbitMQ), not before it
//   ever had one.
// Error texts are RabbitMQ's (rabbit_channel.erl, rabbit_exchange.erl, rabbit_misc.erl).
import AMQPWire
import BrokerModel

/// Virtual hosts, exchanges, bindings and queues, and the routing over them.
public struct Topology: Sendable {
    struct Exchange: Sendable {
        var definition: ExchangeDefinition
        var routes: ExchangeRoutes
    }

    struct VHostState: Sendable {
        var exchanges: [ExchangeName: Exchange] = [:]
        var queues: [QueueName: QueueRecord] = [:]
        // Reverse indexes so that deleting a queue or an exchange finds the bindings that
        // lead to it without a scan.
        var queueBindings: [QueueName: Set<Binding>] = [:]
        var exchangeBindings: [ExchangeName: Set<Binding>] = [:]
    }

    static let standardVHost: VHostState = {
        var state = VHostState()
        for definition in ExchangeDefinition.standard {
            state.exchanges[definition.name] = Exchange(definition: definition, routes: ExchangeRoutes(type: definition.type))
        }
        return state
    }()

    var vhosts: [VHost: VHostState] = [:]
    /// Users, vhosts and permissions: in the snapshot, so every check reads them without a lock.
    public var access = AccessControl()
    /// Whether any delayed exchange was ever declared: until then publishes skip the check.
    public private(set) var hasDelayedExchanges = false

    /// A topology with the virtual host "/" and its standard exchanges.
    public init() {
        vhosts[.default] = Self.standardVHost
    }

    func state(_ vhost: VHost) -> VHostState { vhosts[vhost] ?? Self.standardVHost }

    // MARK: Reading

    /// The virtual hosts, sorted by name.
    public var vhostNames: [VHost] { access.vhosts.sorted { $0.name < $1.name } }

    public func hasVHost(_ vhost: VHost) -> Bool { access.vhosts.contains(vhost) }

    /// The exchange `name` in `vhost`, or nil.
    public func exchange(_ name: ExchangeName, in vhost: VHost) -> ExchangeDefinition? {
        state(vhost).exchanges[name]?.definition
    }

    /// Every exchange in `vhost`, sorted by name.
    public func exchanges(in vhost: VHost) -> [ExchangeDefinition] {
        state(vhost).exchanges.values.map(\.definition).sorted { $0.name.name < $1.name.name }
    }

    /// The queue `id`, or nil.
    public func queue(_ id: QueueID) -> QueueRecord? {
        vhosts[id.vhost]?.queues[id.name]
    }

    /// The vhost's max-queues refusal of a new queue `id` (406 with RabbitMQ's words), or nil.
    public func queueLimitRefusal(_ id: QueueID) -> TopologyError? {
        guard queue(id) == nil, let limit = access.limits[id.vhost]?.maxQueues,
              (vhosts[id.vhost]?.queues.count ?? 0) >= limit else { return nil }
        return .preconditionFailed("cannot declare queue '\(id.name.name)': queue limit in vhost '\(id.vhost.name)' (\(limit)) is reached")
    }

    /// Every queue in `vhost`, sorted by name.
    public func queues(in vhost: VHost) -> [QueueRecord] {
        state(vhost).queues.values.sorted { $0.id.name.name < $1.id.name.name }
    }

    /// The explicit bindings in `vhost` (not the default exchange's implicit ones), sorted by
    /// exchange, queue and routing key.
    public func bindings(in vhost: VHost) -> [Binding] {
        state(vhost).exchanges.values.flatMap(\.routes.bindings).sorted { a, b in
            if a.source.name != b.source.name { return a.source.name < b.source.name }
            if a.destination != b.destination { return a.destination.sortKey < b.destination.sortKey }
            if a.routingKey != b.routingKey { return a.routingKey < b.routingKey }
            return "\(a.arguments.entries)" < "\(b.arguments.entries)"
        }
    }

    // MARK: Exchanges

    /// exchange.declare. Passive: the exchange must exist (its type and flags are not
    /// compared). Otherwise: creates it, or checks that an existing one is equivalent.
    public mutating func declareExchange(_ definition: ExchangeDefinition, passive: Bool, in vhost: VHost) throws(TopologyError) {
        let name = definition.name
        if name == .default { throw TopologyError.defaultExchange }
        if let existing = state(vhost).exchanges[name] {
            if !passive { try Self.assertEquivalent(existing.definition, definition, in: vhost) }
            return
        }
        if passive { throw TopologyError.noExchange(name, vhost) }
        // AMQP reserves "amq." for the server, but only when creating (an existing amq.*
        // exchange may be redeclared), as rabbit_channel:check_name does.
        if name.name.hasPrefix("amq.") {
            throw TopologyError.accessRefused("exchange name '\(name.name)' contains reserved prefix 'amq.*'")
        }
        vhosts[vhost, default: Self.standardVHost].exchanges[name] =
            Exchange(definition: definition, routes: ExchangeRoutes(type: definition.type))
        if definition.delayed { hasDelayedExchanges = true }
    }

    /// exchange.delete. A missing exchange is not an error (RabbitMQ answers delete-ok).
    public mutating func deleteExchange(_ name: ExchangeName, ifUnused: Bool, in vhost: VHost) throws(TopologyError) {
        if name == .default { throw TopologyError.defaultExchange }
        if name.name.hasPrefix("amq.") {
            throw TopologyError.accessRefused(
                "deletion of system " + TopologyError.resource("exchange", name.name, vhost) + " not allowed")
        }
        guard let exchange = vhosts[vhost]?.exchanges[name] else { return }
        if ifUnused, !exchange.routes.isEmpty {
            throw TopologyError.preconditionFailed(TopologyError.resource("exchange", name.name, vhost) + " in use")
        }
        removeExchange(name, in: vhost)
    }

    private mutating func removeExchange(_ name: ExchangeName, in vhost: VHost) {
        guard let exchange = vhosts[vhost]?.exchanges.removeValue(forKey: name) else { return }
        for binding in exchange.routes.bindings {
            forgetReverse(binding, in: vhost)
        }
        // Bindings from other exchanges to this one go with it.
        removeBindings(leadingTo: vhosts[vhost]?.exchangeBindings.removeValue(forKey: name) ?? [], in: vhost)
    }

    /// Drops bindings whose destination is gone; sources left unused may auto-delete.
    private mutating func removeBindings(leadingTo bindings: Set<Binding>, in vhost: VHost) {
        var touched: Set<ExchangeName> = []
        for binding in bindings {
            _ = vhosts[vhost]?.exchanges[binding.source]?.routes.remove(binding)
            touched.insert(binding.source)
        }
        for name in touched { autoDeleteIfUnused(name, in: vhost) }
    }

    // MARK: Queues

    /// Records a queue once its worker confirmed the declare; replaces an existing record.
    public mutating func addQueue(_ record: QueueRecord) {
        vhosts[record.id.vhost, default: Self.standardVHost].queues[record.id.name] = record
    }

    /// Forgets a queue and its bindings; auto-delete exchanges left without bindings go too.
    public mutating func removeQueue(_ id: QueueID) {
        guard vhosts[id.vhost]?.queues.removeValue(forKey: id.name) != nil else { return }
        removeBindings(leadingTo: vhosts[id.vhost]?.queueBindings.removeValue(forKey: id.name) ?? [], in: id.vhost)
    }

    /// Forgets every exclusive queue owned by `connection` (it closed); returns their ids,
    /// sorted by vhost and name.
    public mutating func removeExclusiveQueues(of connection: ConnectionID) -> [QueueID] {
        let owned = exclusiveQueues(of: connection).map(\.id)
        for id in owned { removeQueue(id) }
        return owned
    }

    /// The exclusive queues `connection` declared, sorted by vhost and name.
    public func exclusiveQueues(of connection: ConnectionID) -> [QueueRecord] {
        vhosts.values.flatMap { $0.queues.values.filter { $0.exclusiveOwner == connection } }
            .sorted { ($0.id.vhost.name, $0.id.name.name) < ($1.id.vhost.name, $1.id.name.name) }
    }

    /// The queues recorded on `partition`.
    public func queueIDs(of partition: PartitionID) -> Set<QueueID> {
        Set(vhosts.values.flatMap { $0.queues.values.filter { $0.partition == partition }.map(\.id) })
    }

    /// Makes the registry of `partition`'s queues what its worker reports (the worker is the
    /// authority: after a restart of the worker or of the router). Queues the worker does not
    /// have are forgotten with their bindings, of those recorded before the worker was asked
    /// (`askedAfter`; every one when nil): a queue declared since, through another router, is
    /// missing from an answer given before. The flags of the others are the worker's. An
    /// exclusive queue keeps the record the router has (with its owner), and is not added
    /// without one (its owner is gone).
    public mutating func reconcileQueues(of partition: PartitionID, with reported: [QueueRecord], askedAfter: Set<QueueID>? = nil) {
        let byID = Dictionary(reported.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var stale: [QueueID] = []
        for state in vhosts.values {
            for record in state.queues.values where record.partition == partition && byID[record.id] == nil
                && askedAfter?.contains(record.id) ?? true {
                stale.append(record.id)
            }
        }
        for id in stale { removeQueue(id) }
        for record in reported where record.partition == partition {
            if var existing = queue(record.id) {
                existing.durable = record.durable
                existing.autoDelete = record.autoDelete
                addQueue(existing)
            } else if record.exclusiveOwner == nil {
                addQueue(record)
            }
        }
    }

    /// Adds a virtual host with only its standard exchanges (nothing left from a deleted one
    /// of the same name); false when it exists.
    @discardableResult
    public mutating func addVHost(_ vhost: VHost) -> Bool {
        guard access.addVHost(vhost) else { return false }
        vhosts[vhost] = Self.standardVHost
        return true
    }

    /// Forgets a virtual host, its permissions and everything in it; returns the queues it held.
    public mutating func deleteVHost(_ vhost: VHost) -> [QueueID] {
        _ = access.deleteVHost(vhost)
        let removed = vhosts.removeValue(forKey: vhost)
        return (removed?.queues.values.map(\.id) ?? []).sorted { $0.name.name < $1.name.name }
    }

    // MARK: Bindings

    /// queue.bind or exchange.bind. A binding that already exists is left as it is.
    public mutating func bind(_ binding: Binding, in vhost: VHost) throws(TopologyError) {
        if binding.source == .default || binding.destination == .exchange(.default) { throw TopologyError.defaultExchange }
        try checkBindable(binding, in: vhost)
        // No copy of the vhost's state may be alive here, or the mutation below would copy it.
        guard vhosts[vhost, default: Self.standardVHost].exchanges[binding.source]!.routes.add(binding) else { return }
        switch binding.destination {
        case .queue(let queue): vhosts[vhost]!.queueBindings[queue, default: []].insert(binding)
        case .exchange(let exchange): vhosts[vhost]!.exchangeBindings[exchange, default: []].insert(binding)
        }
    }

    private func checkBindable(_ binding: Binding, in vhost: VHost) throws(TopologyError) {
        guard let type = vhosts[vhost]?.exchanges[binding.source]?.definition.type
                ?? Self.standardVHost.exchanges[binding.source]?.definition.type else {
            throw TopologyError.noExchange(binding.source, vhost)
        }
        switch binding.destination {
        case .queue(let queue):
            guard vhosts[vhost]?.queues[queue] != nil else { throw TopologyError.noQueue(queue, vhost) }
        case .exchange(let exchange):
            guard state(vhost).exchanges[exchange] != nil else { throw TopologyError.noExchange(exchange, vhost) }
        }
        if type == .headers, let error = HeadersMatcher.validate(arguments: binding.arguments) {
            throw error
        }
    }

    /// queue.unbind. As in RabbitMQ, a binding that does not exist (nor its exchange or queue)
    /// is not an error; an auto-delete exchange that loses its last binding is deleted.
    public mutating func unbind(_ binding: Binding, in vhost: VHost) throws(TopologyError) {
        if binding.source == .default || binding.destination == .exchange(.default) { throw TopologyError.defaultExchange }
        guard vhosts[vhost]?.exchanges[binding.source] != nil,
              vhosts[vhost]!.exchanges[binding.source]!.routes.remove(binding) else { return }
        forgetReverse(binding, in: vhost)
        autoDeleteIfUnused(binding.source, in: vhost)
    }

    private mutating func forgetReverse(_ binding: Binding, in vhost: VHost) {
        switch binding.destination {
        case .queue(let queue):
            guard var set = vhosts[vhost]?.queueBindings.removeValue(forKey: queue) else { return }
            set.remove(binding)
            if !set.isEmpty { vhosts[vhost]!.queueBindings[queue] = set }
        case .exchange(let exchange):
            guard var set = vhosts[vhost]?.exchangeBindings.removeValue(forKey: exchange) else { return }
            set.remove(binding)
            if !set.isEmpty { vhosts[vhost]!.exchangeBindings[exchange] = set }
        }
    }

    private mutating func autoDeleteIfUnused(_ name: ExchangeName, in vhost: VHost) {
        guard let exchange = vhosts[vhost]?.exchanges[name],
              exchange.definition.autoDelete, exchange.routes.isEmpty else { return }
        removeExchange(name, in: vhost)
    }
}

extension BindingDestination {
    /// Orders listings: queues before exchanges, then by name.
    var sortKey: String {
        switch self {
        case .queue(let name): "q:" + name.name
        case .exchange(let name): "x:" + name.name
        }
    }
}
