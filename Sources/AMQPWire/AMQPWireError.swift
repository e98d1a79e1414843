/// A protocol violation found while decoding AMQP input, with the reply code the spec
/// assigns to it. Every code this module raises is a hard error: the connection must be
/// closed with `connection.close(code, text, classID, methodID)`.
///
/// Code choices (spec amqp0-9-1.xml constants, RabbitMQ's rabbit_reader /
/// rabbit_command_assembler where the spec is silent):
/// - 501 `frameError`: bad frame end octet, unknown frame type, frame larger than
///   `frame_max`, short header payload, heartbeat frame with a payload or on a channel other
///   than 0 (spec 4.2.7: "a peer that receives an invalid heartbeat frame MUST raise a
///   connection exception with reply code 501"), body frame overrunning the declared body
///   size, body size above the limit (rabbit_command_assembler).
/// - 502 `syntaxError`: method arguments that are truncated, have an unknown field-table type,
///   or leave trailing bytes ("illegal values for one or more fields"). RabbitMQ reports
///   its "cannot decode" case as 501; both are hard errors, so clients see the same close.
/// - 505 `unexpectedFrame`: header/body frames out of sequence (rabbit_command_assembler).
/// - 540 `notImplemented`: an unknown class or method id (the spec's "functionality that
///   is not implemented"; RabbitMQ's codec aborts the connection on `unknown_method_id`).
public struct AMQPWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The reply code to close with.
    public var code: ReplyCode
    /// Detail for the reply text (without the `NOT_FOUND - ` prefix; see ``replyText``).
    public var message: String
    /// The channel of the offending frame, when known.
    public var channel: UInt16?
    /// The class id of the offending method, or 0.
    public var classID: UInt16
    /// The method id of the offending method, or 0.
    public var methodID: UInt16

    /// Creates an error.
    public init(_ code: ReplyCode, _ message: String, channel: UInt16? = nil,
                classID: UInt16 = 0, methodID: UInt16 = 0) {
        self.code = code
        self.message = message
        self.channel = channel
        self.classID = classID
        self.methodID = methodID
    }

    /// The reply text as RabbitMQ formats it, e.g. `"FRAME_ERROR - bad frame end"`.
    public var replyText: String { code.replyText(message) }

    public var description: String {
        var s = "\(code.rawValue) \(replyText)"
        if let channel { s += " (channel \(channel))" }
        return s
    }

    static func truncated(_ what: StaticString) -> AMQPWireError {
        AMQPWireError(.syntaxError, "truncated \(what)")
    }

    static func unknownMethod(classID: UInt16, methodID: UInt16) -> AMQPWireError {
        AMQPWireError(.notImplemented, "unknown method \(classID)/\(methodID)",
                      classID: classID, methodID: methodID)
    }
}
