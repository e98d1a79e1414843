// /api/bindings and the binding views of queues and exchanges; POST creates a binding and
// DELETE removes the one its `properties_key` names. Listings include the default
// exchange's implicit binding of every queue (source "", routing key = queue name), as
// RabbitMQ's do; those cannot be created or deleted.
//
// properties_key follows rabbit_mgmt_format:pack_binding_props: "~" for an empty routing
// key without arguments, the quoted routing key without arguments, else the quoted key, "~"
// and a hash of the arguments. RabbitMQ hashes the Erlang term (erlang:phash2); the broker
// hashes the AMQP encoding of the table (FNV-1a, 32 bits, base64url), so a key with
// arguments differs from RabbitMQ's but is stable, and clients only ever pass back a key
// they listed.
import AMQPWire
import BrokerModel
import BrokerTelemetry
import Definitions
import Foundation
import NIOCore
import NIOHTTP1
import RouterCore

extension ManagementAPI {
    func routeBindings(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        let reply: HTTPReply
        if call.match(.GET, "bindings") != nil {
            reply = bindingList(nil) { _ in true }
        } else if let c = call.match(.GET, "bindings/*") {
            reply = bindingList(c[0]) { _ in true }
        } else if let c = call.match(.GET, "queues/*/*/bindings") {
            let queue = QueueName(c[1])
            guard let vhost = vhost(c[0]), backend.topology.queue(QueueID(vhost: vhost, name: queue)) != nil else {
                return succeed(call, Self.notFound)
            }
            reply = bindingList(c[0]) { $0.destination == .queue(queue) }
        } else if let c = call.match(.GET, "exchanges/*/*/bindings/*"), c[2] == "source" || c[2] == "destination" {
            let exchange = Self.exchangeName(fromPath: c[1])
            guard let vhost = vhost(c[0]), backend.topology.exchange(exchange, in: vhost) != nil else {
                return succeed(call, Self.notFound)
            }
            reply = bindingList(c[0]) { c[2] == "source" ? $0.source == exchange : $0.destination == .exchange(exchange) }
        } else if let c = call.match(.POST, "bindings/*/e/*/*/*") {
            // A missing exchange or queue gets RabbitMQ's "no queue 'q' in vhost '/'" from bind.
            guard let vhost = vhost(c[0]), c[2] == "q" || c[2] == "e" else { return succeed(call, Self.notFound) }
            let destination: BindingDestination = c[2] == "q" ? .queue(QueueName(c[3])) : .exchange(Self.exchangeName(fromPath: c[3]))
            reply = bind(call, vhost, Self.exchangeName(fromPath: c[1]), destination, path: c[3])
        } else if let c = call.match(.GET, "bindings/*/e/*/*/*") {
            guard let (vhost, source, destination) = endpoints(c) else { return succeed(call, Self.notFound) }
            reply = bindingList(vhost.name) { $0.source == source && $0.destination == destination }
        } else if let c = call.match(.GET, "bindings/*/e/*/*/*/*") ?? call.match(.DELETE, "bindings/*/e/*/*/*/*") {
            guard let (vhost, source, destination) = endpoints(c),
                  let binding = bindings(in: vhost).first(where: {
                      $0.source == source && $0.destination == destination && Self.propertiesKey($0) == c[4]
                  }) else {
                return succeed(call, Self.notFound)
            }
            reply = call.request.method == .GET ? Self.ok(Self.bindingJSON(binding, in: vhost)) : unbind(binding, in: vhost)
        } else {
            return nil
        }
        return succeed(call, reply)
    }

    /// The explicit bindings of `vhost`, after the default exchange's implicit ones.
    func bindings(in vhost: VHost) -> [Binding] {
        let topology = backend.topology
        let implicit = topology.queues(in: vhost).map {
            Binding(source: .default, queue: $0.id.name, routingKey: $0.id.name.name)
        }
        return implicit + topology.bindings(in: vhost)
    }

    private func bindingList(_ vhostName: String?, _ include: (Binding) -> Bool) -> HTTPReply {
        guard let vhosts = vhosts(vhostName) else { return Self.notFound }
        return Self.ok(.array(vhosts.flatMap { vhost in
            bindings(in: vhost).filter(include).map { Self.bindingJSON($0, in: vhost) }
        }))
    }

    static func bindingJSON(_ binding: Binding, in vhost: VHost, withKey: Bool = true) -> JSON {
        var fields: [(key: String, value: JSON)] = [("source", .string(binding.source.name)), ("vhost", .string(vhost.name))]
        switch binding.destination {
        case .queue(let queue): fields += [("destination", .string(queue.name)), ("destination_type", "queue")]
        case .exchange(let exchange): fields += [("destination", .string(exchange.name)), ("destination_type", "exchange")]
        }
        fields += [("routing_key", .string(binding.routingKey)), ("arguments", JSON(binding.arguments))]
        if withKey { fields.append(("properties_key", .string(propertiesKey(binding)))) }
        return .object(fields)
    }

    /// The vhost, source and destination a binding path names, when they all exist.
    private func endpoints(_ c: [String]) -> (VHost, ExchangeName, BindingDestination)? {
        guard let vhost = vhost(c[0]), c[2] == "q" || c[2] == "e" else { return nil }
        let topology = backend.topology
        let source = Self.exchangeName(fromPath: c[1])
        guard topology.exchange(source, in: vhost) != nil else { return nil }
        if c[2] == "q" {
            let queue = QueueName(c[3])
            return topology.queue(QueueID(vhost: vhost, name: queue)) == nil ? nil : (vhost, source, .queue(queue))
        }
        let exchange = Self.exchangeName(fromPath: c[3])
        return topology.exchange(exchange, in: vhost) == nil ? nil : (vhost, source, .exchange(exchange))
    }

    private func bind(_ call: Call, _ vhost: VHost, _ source: ExchangeName, _ destination: BindingDestination,
                      path destinationSegment: String) -> HTTPReply {
        guard let body = call.body() else { return Self.badRequest("not_json") }
        guard let arguments = (body["arguments"] ?? .null).fieldTable else { return Self.badRequest("arguments must be an object") }
        let binding = Binding(source: source, destination: destination, routingKey: body["routing_key"]?.stringValue ?? "",
                              arguments: arguments)
        switch create(binding, in: vhost) {
        case .some(let refusal):
            return refusal
        case .none:
            var reply = Self.created
            // Relative to the request's URL, as RabbitMQ's: "<destination>/<properties_key>".
            reply.headers = [("Location", Self.pathSegment(destinationSegment) + "/" + Self.pathSegment(Self.propertiesKey(binding)))]
            return reply
        }
    }

    /// Adds `binding`; nil when done, else the reply refusing it.
    func create(_ binding: Binding, in vhost: VHost) -> HTTPReply? {
        if case .queue(let queue) = binding.destination,
           backend.topology.queue(QueueID(vhost: vhost, name: queue))?.exclusiveOwner != nil {
            return Self.badRequest(ReplyCode.resourceLocked.replyText(
                TopologyError.lockedDetail(QueueID(vhost: vhost, name: queue))))
        }
        do {
            try backend.updateTopology { (t: inout Topology) throws(TopologyError) in try t.bind(binding, in: vhost) }
            return nil
        } catch {
            return Self.refused(error)
        }
    }

    private func unbind(_ binding: Binding, in vhost: VHost) -> HTTPReply {
        do {
            try backend.updateTopology { (t: inout Topology) throws(TopologyError) in try t.unbind(binding, in: vhost) }
            return Self.noContent
        } catch {
            return Self.refused(error)
        }
    }

    // MARK: properties_key

    static func propertiesKey(_ binding: Binding) -> String {
        if binding.arguments.isEmpty { return binding.routingKey.isEmpty ? "~" : quoteBinding(binding.routingKey) }
        return quoteBinding(binding.routingKey) + "~" + quoteBinding(argumentsHash(binding.arguments))
    }

    /// mochiweb's quote_plus (letters, digits, ".-_" kept, space as "+", the rest %XX), with
    /// "~" escaped too so it can separate the parts.
    static func quoteBinding(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func argumentsHash(_ arguments: FieldTable) -> String {
        var encoded = ByteBuffer()
        encoded.writeFieldTable(arguments)
        var hash: UInt32 = 0x811C_9DC5
        for byte in encoded.readableBytesView {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        let bytes = withUnsafeBytes(of: hash.bigEndian) { Data($0) }
        return bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A string escaped for one URL path segment.
    static func pathSegment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/%+")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
