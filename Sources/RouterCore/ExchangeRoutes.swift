// One exchange's bindings, indexed for its type so that routing one message is a dictionary
// lookup (direct), a list (fanout), a trie walk (topic) or a scan (headers). Each binding is
// entered once; two bindings that differ only by arguments both point at the same queue, and
// the caller deduplicates the result.
import AMQPWire
import BrokerModel

struct ExchangeRoutes: Sendable {
    enum Index: Sendable {
        case direct([String: [BindingDestination]])
        case fanout([BindingDestination])
        case topic(TopicMatcher.Trie<BindingDestination>)
        case headers([Binding])
    }

    private(set) var bindings: Set<Binding> = []
    private var index: Index

    init(type: ExchangeType) {
        switch type {
        case .direct: index = .direct([:])
        case .fanout: index = .fanout([])
        case .topic: index = .topic(TopicMatcher.Trie())
        case .headers: index = .headers([])
        }
    }

    var isEmpty: Bool { bindings.isEmpty }

    /// Adds `binding`; false if it was already there.
    mutating func add(_ binding: Binding) -> Bool {
        guard bindings.insert(binding).inserted else { return false }
        switch index {
        case .direct(var keys):
            index = .fanout([])  // drop the enum's reference so `keys` stays unique (no copy)
            keys[binding.routingKey, default: []].append(binding.destination)
            index = .direct(keys)
        case .fanout(var queues):
            index = .fanout([])
            queues.append(binding.destination)
            index = .fanout(queues)
        case .topic(var trie):
            index = .fanout([])
            trie.insert(pattern: binding.routingKey, value: binding.destination)
            index = .topic(trie)
        case .headers(var list):
            index = .fanout([])
            list.append(binding)
            index = .headers(list)
        }
        return true
    }

    /// Removes `binding`; false if it was not there.
    mutating func remove(_ binding: Binding) -> Bool {
        guard bindings.remove(binding) != nil else { return false }
        switch index {
        case .direct(var keys):
            index = .fanout([])
            if var queues = keys.removeValue(forKey: binding.routingKey) {
                if let at = queues.firstIndex(of: binding.destination) { queues.remove(at: at) }
                if !queues.isEmpty { keys[binding.routingKey] = queues }
            }
            index = .direct(keys)
        case .fanout(var queues):
            index = .fanout([])
            if let at = queues.firstIndex(of: binding.destination) { queues.remove(at: at) }
            index = .fanout(queues)
        case .topic(var trie):
            index = .fanout([])
            trie.remove(pattern: binding.routingKey, value: binding.destination)
            index = .topic(trie)
        case .headers(var list):
            index = .fanout([])
            if let at = list.firstIndex(of: binding) { list.remove(at: at) }
            index = .headers(list)
        }
        return true
    }

    /// Calls `body` with the destination of every binding that matches; one may come more
    /// than once. Order: binding order (direct, fanout, headers) or trie order (topic).
    func forEachMatch(routingKey: String, headers: FieldTable?, _ body: (BindingDestination) -> Void) {
        switch index {
        case .direct(let keys):
            if let queues = keys[routingKey] { for queue in queues { body(queue) } }
        case .fanout(let queues):
            for queue in queues { body(queue) }
        case .topic(let trie):
            trie.forEachMatch(routingKey: routingKey, body)
        case .headers(let list):
            for binding in list where HeadersMatcher.matches(arguments: binding.arguments, headers: headers) {
                body(binding.destination)
            }
        }
    }
}
