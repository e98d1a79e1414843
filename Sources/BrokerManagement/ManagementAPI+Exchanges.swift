// /api/exchanges: list, show, declare (PUT) and delete, straight on the router's topology,
// with the checks and texts of exchange.declare / exchange.delete. RabbitMQ lists the
// default exchange with the name "" and accepts "amq.default" for it in paths.
import AMQPWire
import BrokerModel
import BrokerTelemetry
import Definitions
import NIOCore
import NIOHTTP1
import RouterCore

extension ManagementAPI {
    func routeExchanges(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        if call.match(.GET, "exchanges") != nil { return succeed(call, exchangeList(nil)) }
        if let c = call.match(.GET, "exchanges/*") { return succeed(call, exchangeList(c[0])) }
        if let c = call.match(.GET, "exchanges/*/*") {
            guard let vhost = vhost(c[0]),
                  let exchange = backend.topology.exchange(Self.exchangeName(fromPath: c[1]), in: vhost) else {
                return succeed(call, Self.notFound)
            }
            return succeed(call, Self.ok(Self.exchangeJSON(exchange, in: vhost)))
        }
        if let c = call.match(.PUT, "exchanges/*/*") { return succeed(call, declareExchange(call, c[0], c[1])) }
        if let c = call.match(.DELETE, "exchanges/*/*") { return succeed(call, deleteExchange(call, c[0], c[1])) }
        return nil
    }

    private func exchangeList(_ vhostName: String?) -> HTTPReply {
        guard let vhosts = vhosts(vhostName) else { return Self.notFound }
        let topology = backend.topology
        return Self.ok(.array(vhosts.flatMap { vhost in topology.exchanges(in: vhost).map { Self.exchangeJSON($0, in: vhost) } }))
    }

    static func exchangeJSON(_ exchange: ExchangeDefinition, in vhost: VHost) -> JSON {
        [
            "name": .string(exchange.name.name), "vhost": .string(vhost.name), "type": .string(exchange.declaredType),
            "durable": .bool(exchange.durable), "auto_delete": .bool(exchange.autoDelete),
            "internal": .bool(exchange.internal), "arguments": JSON(exchange.arguments),
        ]
    }

    /// The exchange a PUT body describes (RabbitMQ's defaults: type direct, not durable),
    /// or the reply refusing it.
    private func declareExchange(_ call: Call, _ vhostName: String, _ name: String) -> HTTPReply {
        guard let vhost = vhost(vhostName) else { return Self.vhostNotFound }
        guard let body = call.body() else { return Self.badRequest("not_json") }
        do {
            return declare(try Definitions.exchange(Self.exchangeName(fromPath: name), body), in: vhost)
        } catch {
            return Self.badRequest(error.reason)
        }
    }

    /// 201 when created, 204 when an equivalent exchange existed.
    func declare(_ definition: ExchangeDefinition, in vhost: VHost) -> HTTPReply {
        do {
            let existed = try backend.updateTopology { (t: inout Topology) throws(TopologyError) -> Bool in
                let existed = t.exchange(definition.name, in: vhost) != nil
                try t.declareExchange(definition, passive: false, in: vhost)
                return existed
            }
            return existed ? Self.noContent : Self.created
        } catch {
            return Self.refused(error)
        }
    }

    private func deleteExchange(_ call: Call, _ vhostName: String, _ name: String) -> HTTPReply {
        let exchange = Self.exchangeName(fromPath: name)
        guard let vhost = vhost(vhostName), backend.topology.exchange(exchange, in: vhost) != nil else {
            return Self.notFound
        }
        do {
            try backend.updateTopology { (t: inout Topology) throws(TopologyError) in
                try t.deleteExchange(exchange, ifUnused: call.flag("if-unused"), in: vhost)
            }
            return Self.noContent
        } catch {
            return Self.refused(error)
        }
    }
}
