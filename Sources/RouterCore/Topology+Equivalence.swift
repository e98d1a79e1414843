// Redeclaring an exchange must state what it was declared with (rabbit_exchange:
// assert_equivalence): type, durable, auto_delete, internal, and of the arguments only
// "alternate-exchange" (the one argument RabbitMQ's exchange types compare). The first
// difference closes the channel with 406 and RabbitMQ's text, e.g. "inequivalent arg 'type'
// for exchange 'x' in vhost '/': received 'fanout' but current is 'direct'".
import AMQPWire
import BrokerModel

extension Topology {
    static func assertEquivalent(_ current: ExchangeDefinition, _ requested: ExchangeDefinition,
                                 in vhost: VHost) throws(TopologyError) {
        func fail(_ key: String, _ received: String, _ existing: String) -> TopologyError {
            .preconditionFailed("inequivalent arg '\(key)' for "
                + TopologyError.resource("exchange", current.name.name, vhost)
                + ": received '\(received)' but current is '\(existing)'")
        }
        if current.declaredType != requested.declaredType {
            throw fail("type", requested.declaredType, current.declaredType)
        }
        if current.durable != requested.durable {
            throw fail("durable", "\(requested.durable)", "\(current.durable)")
        }
        if current.autoDelete != requested.autoDelete {
            throw fail("auto_delete", "\(requested.autoDelete)", "\(current.autoDelete)")
        }
        if current.internal != requested.internal {
            throw fail("internal", "\(requested.internal)", "\(current.internal)")
        }
        // rabbit_misc:assert_args_equivalence1 for "alternate-exchange".
        let key = "alternate-exchange"
        switch (current.arguments[key], requested.arguments[key]) {
        case (nil, nil):
            return
        case (let old?, let new?):
            if typeClass(old) == typeClass(new), HeadersMatcher.termsEqual(old, new) { return }
            throw fail(key, plain(new), plain(old))
        case (let old, let new):
            throw fail(key, tagged(new), tagged(old))
        }
    }

    // rabbit_misc:type_class: every integer type is one class.
    private static func typeClass(_ value: FieldValue) -> String {
        switch value {
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64: "int"
        case .float, .double: "float"
        default: value.typeName
        }
    }

    // How RabbitMQ prints a bare value: binaries as text, anything else as an Erlang term.
    private static func plain(_ value: FieldValue) -> String {
        switch value {
        case .longString(let bytes), .byteArray(let bytes): String(decoding: bytes, as: UTF8.self)
        default: HeadersMatcher.erlangFormat(value)
        }
    }

    // How RabbitMQ prints a {Type, Value} pair, or `undefined` for a missing argument.
    private static func tagged(_ value: FieldValue?) -> String {
        guard let value else { return "undefined" }
        return "{\(value.typeName),\(HeadersMatcher.erlangFormat(value))}"
    }
}
