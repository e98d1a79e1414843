// queue.declare argument equivalence, as RabbitMQ checks it on redeclare
// (rabbit_misc:assert_args_equivalence): only the arguments the queue type understands are
// compared, integers of different widths are equal when their values are, and other keys
// are ignored. The table is scanned without decoding into values, on the declare path only.
import AMQPWire
import BrokerModel
import NIOCore

enum QueueArguments {
    /// The classic-queue arguments RabbitMQ compares on redeclare.
    static let checkedKeys: [String] = [
        "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
        "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
        "x-queue-type", "x-queue-version", "x-single-active-consumer", "x-queue-master-locator",
        "x-queue-leader-locator", "x-consumer-timeout",
    ]

    /// One table entry: its key, type octet, and the value's bytes.
    struct Entry {
        var key: String
        var type: UInt8
        var value: ByteBuffer
    }

    /// nil when equivalent, else the error naming the first differing argument.
    static func mismatch(current: ByteBuffer, received: ByteBuffer, queue: QueueID) -> ChannelError? {
        if current == received { return nil }
        guard let old = entries(of: current), let new = entries(of: received) else {
            return ChannelError(code: .preconditionFailed, text: "PRECONDITION_FAILED - inequivalent arg 'arguments' for queue \(queue): received a different arguments table")
        }
        for key in checkedKeys {
            let a = old.first { $0.key == key }
            let b = new.first { $0.key == key }
            if let a, let b, equivalent(a, b) { continue }
            if a == nil && b == nil { continue }
            return .inequivalent(queue, field: key, received: describe(b), current: describe(a))
        }
        return nil
    }

    static func equivalent(_ a: Entry, _ b: Entry) -> Bool {
        if let x = integer(a), let y = integer(b) { return x == y }
        return a.type == b.type && a.value == b.value
    }

    /// The entries of an AMQP field table, with or without its 4-byte length prefix.
    static func entries(of table: ByteBuffer) -> [Entry]? {
        var buffer = table
        if buffer.readableBytes == 0 { return [] }
        if let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
           Int(length) == buffer.readableBytes - 4 {
            buffer.moveReaderIndex(forwardBy: 4)
        }
        var result: [Entry] = []
        while buffer.readableBytes > 0 {
            guard let keyLength = buffer.readInteger(as: UInt8.self),
                  let key = buffer.readString(length: Int(keyLength)),
                  let type = buffer.readInteger(as: UInt8.self),
                  let size = RawFieldTable.valueSize(type: type, at: buffer),
                  let value = buffer.readSlice(length: size) else { return nil }
            result.append(Entry(key: key, type: type, value: value))
        }
        return result
    }

    static func integer(_ entry: Entry) -> Int64? {
        let v = entry.value
        let at = v.readerIndex
        switch entry.type {
        case UInt8(ascii: "b"): return v.getInteger(at: at, as: Int8.self).map(Int64.init)
        case UInt8(ascii: "B"): return v.getInteger(at: at, as: UInt8.self).map(Int64.init)
        case UInt8(ascii: "s"), UInt8(ascii: "U"): return v.getInteger(at: at, as: Int16.self).map(Int64.init)
        case UInt8(ascii: "u"): return v.getInteger(at: at, as: UInt16.self).map(Int64.init)
        case UInt8(ascii: "I"): return v.getInteger(at: at, as: Int32.self).map(Int64.init)
        case UInt8(ascii: "i"): return v.getInteger(at: at, as: UInt32.self).map(Int64.init)
        case UInt8(ascii: "l"), UInt8(ascii: "L"): return v.getInteger(at: at, as: Int64.self)
        default: return nil
        }
    }

    /// RabbitMQ's name for the entry's type (as in "expected integer, got longstr").
    static func typeName(_ entry: Entry) -> String {
        switch entry.type {
        case UInt8(ascii: "S"): "longstr"
        case UInt8(ascii: "t"): "bool"
        case UInt8(ascii: "b"): "byte"
        case UInt8(ascii: "s"): "short"
        case UInt8(ascii: "I"): "signedint"
        case UInt8(ascii: "l"): "long"
        case UInt8(ascii: "f"): "float"
        case UInt8(ascii: "d"): "double"
        case UInt8(ascii: "D"): "decimal"
        case UInt8(ascii: "F"): "table"
        case UInt8(ascii: "A"): "array"
        case UInt8(ascii: "T"): "timestamp"
        case UInt8(ascii: "V"): "void"
        case UInt8(ascii: "x"): "binary"
        default: "unknown"
        }
    }

    /// RabbitMQ 3.10's rendering: the bare value, `'2000'`, or `none`.
    static func describe(_ entry: Entry?) -> String {
        guard let entry else { return "none" }
        let text: String
        if let number = integer(entry) {
            text = String(number)
        } else if entry.type == UInt8(ascii: "t") {
            text = entry.value.getInteger(at: entry.value.readerIndex, as: UInt8.self) == 0 ? "false" : "true"
        } else if entry.type == UInt8(ascii: "S") {
            var value = entry.value
            value.moveReaderIndex(forwardBy: 4)
            text = value.readString(length: value.readableBytes) ?? ""
        } else {
            text = "…"
        }
        return "'\(text)'"
    }
}
