#!/usr/bin/env python3
"""Generate the AMQP 0-9-1 method structs and codec for the AMQPWire module.

Reads RabbitMQ's extended 0-9-1 spec XML (Debian package `amqp-specs`) and writes

  Sources/AMQPWire/Methods.generated.swift          one struct per method + `AMQPMethod`
  Tests/AMQPWireTests/MethodSamples.generated.swift  sample values for round-trip tests

The generated files are checked in; CI does not run this script. Re-run it after changing
it (Python 3 stdlib only):

  python3 Sources/AMQPWire/Generator/generate.py [path/to/amqp0-9-1.stripped.extended.xml]

The stripped XML lacks the RabbitMQ extensions that rabbitmq-codegen's
amqp-rabbitmq-0.9.1.json adds (connection.blocked/unblocked, connection.update-secret/-ok);
they are listed in RABBITMQ_EXTENSIONS below with the same class/method ids and fields.
"""

import os
import sys
import xml.etree.ElementTree as ET

DEFAULT_SPEC = "/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml"
SPEC_NAME = "amqp0-9-1.stripped.extended.xml"

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_DIR = os.path.dirname(HERE)
PACKAGE_DIR = os.path.dirname(os.path.dirname(MODULE_DIR))
METHODS_OUT = os.path.join(MODULE_DIR, "Methods.generated.swift")
SAMPLES_OUT = os.path.join(PACKAGE_DIR, "Tests", "AMQPWireTests", "MethodSamples.generated.swift")

# (class name, method name, index, content, synchronous, [(field, primitive type)])
RABBITMQ_EXTENSIONS = [
    ("connection", "blocked", 60, False, False, [("reason", "shortstr")]),
    ("connection", "unblocked", 61, False, False, []),
    ("connection", "update-secret", 70, False, True, [("new-secret", "longstr"), ("reason", "shortstr")]),
    ("connection", "update-secret-ok", 71, False, True, []),
]

SWIFT_TYPES = {
    "octet": "UInt8",
    "short": "UInt16",
    "long": "UInt32",
    "longlong": "UInt64",
    "bit": "Bool",
    "shortstr": "String",
    "longstr": "[UInt8]",
    "timestamp": "UInt64",
    "table": "FieldTable",
}

DEFAULTS = {
    "octet": "0",
    "short": "0",
    "long": "0",
    "longlong": "0",
    "bit": "false",
    "shortstr": '""',
    "longstr": "[]",
    "timestamp": "0",
    "table": "[:]",
}

READERS = {
    "octet": "try buffer.readAMQPOctet()",
    "short": "try buffer.readAMQPShort()",
    "long": "try buffer.readAMQPLong()",
    "longlong": "try buffer.readAMQPLongLong()",
    "shortstr": "try buffer.readShortString()",
    "longstr": "try buffer.readLongString()",
    "timestamp": "try buffer.readAMQPLongLong()",
    "table": "try buffer.readFieldTable()",
}

WRITERS = {
    "octet": "buffer.writeInteger({v})",
    "short": "buffer.writeInteger({v})",
    "long": "buffer.writeInteger({v})",
    "longlong": "buffer.writeInteger({v})",
    "shortstr": "buffer.writeShortString({v})",
    "longstr": "buffer.writeLongString({v})",
    "timestamp": "buffer.writeInteger({v})",
    "table": "buffer.writeFieldTable({v})",
}

SWIFT_KEYWORDS = {
    "internal", "return", "class", "struct", "enum", "protocol", "extension", "func", "var",
    "let", "in", "is", "as", "default", "case", "switch", "if", "else", "for", "while", "do",
    "try", "throw", "throws", "public", "private", "fileprivate", "static", "self", "Self",
    "super", "init", "deinit", "import", "operator", "repeat", "guard", "defer", "where",
    "break", "continue", "fallthrough", "true", "false", "nil", "subscript", "typealias",
    "associatedtype", "inout", "open", "any", "some", "catch", "rethrows",
}


def upper_camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def lower_camel(name):
    s = upper_camel(name)
    return s[:1].lower() + s[1:]


def ident(name):
    return "`%s`" % name if name in SWIFT_KEYWORDS else name


class Field:
    def __init__(self, spec_name, prim):
        self.spec_name = spec_name
        self.name = lower_camel(spec_name)
        self.prim = prim

    @property
    def swift_type(self):
        return SWIFT_TYPES[self.prim]


class Method:
    def __init__(self, cls_name, cls_index, name, index, content, synchronous, fields, extension):
        self.cls_name = cls_name
        self.cls_index = cls_index
        self.name = name
        self.index = index
        self.content = content
        self.synchronous = synchronous
        self.fields = fields
        self.extension = extension
        self.struct = upper_camel(cls_name) + upper_camel(name)
        self.case = self.struct[:1].lower() + self.struct[1:]
        self.dotted = "%s.%s" % (cls_name, name)


def load(spec_path):
    root = ET.parse(spec_path).getroot()
    domains = {d.get("name"): d.get("type") for d in root.findall("domain")}

    def resolve(field):
        t = field.get("type") or field.get("domain")
        seen = set()
        while t in domains and domains[t] != t and t not in seen:
            seen.add(t)
            t = domains[t]
        if t not in SWIFT_TYPES:
            raise SystemExit("unknown domain %r for field %r" % (t, field.get("name")))
        return t

    methods = []
    class_index = {}
    for cls in root.findall("class"):
        cname = cls.get("name")
        cindex = int(cls.get("index"))
        class_index[cname] = cindex
        for m in cls.findall("method"):
            fields = [Field(f.get("name"), resolve(f)) for f in m.findall("field")]
            methods.append(Method(cname, cindex, m.get("name"), int(m.get("index")),
                                  m.get("content") == "1", m.get("synchronous") == "1",
                                  fields, False))
    for cname, mname, idx, content, sync, fields in RABBITMQ_EXTENSIONS:
        if any(m.cls_name == cname and m.name == mname for m in methods):
            continue
        methods.append(Method(cname, class_index[cname], mname, idx, content, sync,
                              [Field(n, t) for n, t in fields], True))
    methods.sort(key=lambda m: (list(class_index).index(m.cls_name), m.index))
    return methods, class_index


def bit_groups(fields):
    """Yield ('bits', [fields]) for runs of consecutive bits, else ('field', field)."""
    run = []
    for f in fields:
        if f.prim == "bit":
            run.append(f)
            if len(run) == 8:  # spec 4.2.5.2: at most 8 bits per octet
                yield ("bits", run)
                run = []
        else:
            if run:
                yield ("bits", run)
                run = []
            yield ("field", f)
    if run:
        yield ("bits", run)


def gen_struct(m, out):
    w = out.append
    kind = "RabbitMQ extension method" if m.extension else "Method"
    extra = ""
    if m.content:
        extra = " Followed by a content header and body frames."
    w("/// %s `%s` (class %d, method %d).%s" % (kind, m.dotted, m.cls_index, m.index, extra))
    w("public struct %s: Hashable, Sendable {" % m.struct)
    w("    /// The AMQP class id of `%s`." % m.dotted)
    w("    public static let classID: UInt16 = %d" % m.cls_index)
    w("    /// The AMQP method id of `%s`." % m.dotted)
    w("    public static let methodID: UInt16 = %d" % m.index)
    w("")
    for f in m.fields:
        w("    /// Field `%s` (%s)." % (f.spec_name, f.prim))
        w("    public var %s: %s" % (ident(f.name), f.swift_type))
    if m.fields:
        w("")
    params = ", ".join("%s: %s = %s" % (ident(f.name), f.swift_type, DEFAULTS[f.prim]) for f in m.fields)
    w("    /// Creates the method; every field defaults to zero, false, empty or an empty table.")
    w("    @inlinable")
    w("    public init(%s) {" % params)
    for f in m.fields:
        w("        self.%s = %s" % (ident(f.name), ident(f.name)))
    w("    }")
    w("")
    # decode
    w("    /// Decodes the arguments (the part of a method frame after class and method id).")
    w("    /// - Throws: ``AMQPWireError`` with ``ReplyCode/syntaxError`` when they are truncated")
    w("    ///   or malformed.")
    w("    public init(arguments buffer: inout ByteBuffer) throws(AMQPWireError) {")
    if not m.fields:
        w("        self.init()")
    else:
        bits_n = 0
        for kind, item in bit_groups(m.fields):
            if kind == "bits":
                var = "bits%d" % bits_n
                bits_n += 1
                w("        let %s = try buffer.readAMQPOctet()" % var)
                for i, f in enumerate(item):
                    w("        self.%s = %s & 0x%02x != 0" % (ident(f.name), var, 1 << i))
            else:
                w("        self.%s = %s" % (ident(item.name), READERS[item.prim]))
    w("    }")
    w("")
    # encode
    w("    /// Encodes the arguments (without class and method id).")
    w("    public func encodeArguments(into buffer: inout ByteBuffer) {")
    if not m.fields:
        pass
    for kind, item in bit_groups(m.fields):
        if kind == "bits":
            terms = []
            for i, f in enumerate(item):
                terms.append("(self.%s ? 0x%02x : 0)" % (ident(f.name), 1 << i))
            w("        buffer.writeInteger(%s as UInt8)" % " | ".join(terms))
        else:
            w("        " + WRITERS[item.prim].format(v="self." + ident(item.name)))
    w("    }")
    w("}")
    w("")


def gen_methods(methods, class_index):
    out = []
    w = out.append
    w("// GENERATED by Sources/AMQPWire/Generator/generate.py from %s — do not edit" % SPEC_NAME)
    w("//")
    w("// One struct per AMQP 0-9-1 method (RabbitMQ's extended spec plus its connection.blocked,")
    w("// connection.unblocked and connection.update-secret extensions) and the `AMQPMethod` sum")
    w("// type that decodes and encodes a method frame payload. Consecutive bit fields share one")
    w("// octet, low bit first (spec 4.2.5.2).")
    w("import NIOCore")
    w("")
    for m in methods:
        gen_struct(m, out)

    w("/// Any AMQP 0-9-1 method: the payload of a method frame.")
    w("public enum AMQPMethod: Hashable, Sendable {")
    for m in methods:
        w("    /// `%s` (%d/%d)." % (m.dotted, m.cls_index, m.index))
        w("    case %s(%s)" % (m.case, m.struct))
    w("}")
    w("")
    w("extension AMQPMethod {")
    for prop, typ, doc, val in [
        ("classID", "UInt16", "The AMQP class id.", lambda m: "%s.classID" % m.struct),
        ("methodID", "UInt16", "The AMQP method id within its class.", lambda m: "%s.methodID" % m.struct),
        ("name", "String", "The spec name, e.g. `\"basic.publish\"`.", lambda m: '"%s"' % m.dotted),
    ]:
        w("    /// %s" % doc)
        w("    @inlinable")
        w("    public var %s: %s {" % (prop, typ))
        w("        switch self {")
        for m in methods:
            w("        case .%s: return %s" % (m.case, val(m)))
        w("        }")
        w("    }")
        w("")
    content = [m for m in methods if m.content]
    w("    /// Whether the method carries content (a header frame and body frames follow):")
    w("    /// %s." % ", ".join("`%s`" % m.dotted for m in content))
    w("    @inlinable")
    w("    public var hasContent: Bool {")
    w("        switch self {")
    w("        case %s: return true" % ", ".join(".%s" % m.case for m in content))
    w("        default: return false")
    w("        }")
    w("    }")
    w("")
    sync = [m for m in methods if m.synchronous]
    w("    /// Whether the spec marks the method synchronous (it expects a reply method).")
    w("    @inlinable")
    w("    public var isSynchronous: Bool {")
    w("        switch self {")
    w("        case %s:" % (",\n             ".join(".%s" % m.case for m in sync)))
    w("            return true")
    w("        default: return false")
    w("        }")
    w("    }")
    w("")
    w("    /// Whether the class and method ids name a method whose frames carry content.")
    w("    @inlinable")
    w("    public static func hasContent(classID: UInt16, methodID: UInt16) -> Bool {")
    w("        switch (classID, methodID) {")
    w("        case %s: return true" % ", ".join("(%d, %d)" % (m.cls_index, m.index) for m in content))
    w("        default: return false")
    w("        }")
    w("    }")
    w("")
    w("    /// Decodes a method frame payload: class id, method id, then the arguments. The")
    w("    /// arguments must fill the payload exactly.")
    w("    /// - Throws: ``AMQPWireError`` with ``ReplyCode/notImplemented`` for an unknown class")
    w("    ///   or method id, ``ReplyCode/syntaxError`` for truncated, malformed or trailing")
    w("    ///   arguments.")
    w("    public static func decode(from buffer: inout ByteBuffer) throws(AMQPWireError) -> AMQPMethod {")
    w("        guard let classID = buffer.readInteger(as: UInt16.self),")
    w("              let methodID = buffer.readInteger(as: UInt16.self) else {")
    w("            throw AMQPWireError(.frameError, \"method frame shorter than class and method id\")")
    w("        }")
    w("        let method: AMQPMethod")
    w("        do throws(AMQPWireError) {")
    w("            switch classID {")
    by_class = {}
    for m in methods:
        by_class.setdefault(m.cls_index, []).append(m)
    for cidx in sorted(by_class):
        w("            case %d:" % cidx)
        w("                switch methodID {")
        for m in by_class[cidx]:
            w("                case %d: method = .%s(try %s(arguments: &buffer))" % (m.index, m.case, m.struct))
        w("                default: throw AMQPWireError.unknownMethod(classID: classID, methodID: methodID)")
        w("                }")
    w("            default: throw AMQPWireError.unknownMethod(classID: classID, methodID: methodID)")
    w("            }")
    w("        } catch {")
    w("            var error = error")
    w("            error.classID = classID")
    w("            error.methodID = methodID")
    w("            throw error")
    w("        }")
    w("        if buffer.readableBytes != 0 {")
    w("            throw AMQPWireError(.syntaxError, \"\\(buffer.readableBytes) trailing bytes after the arguments of \\(method.name)\",")
    w("                                classID: classID, methodID: methodID)")
    w("        }")
    w("        return method")
    w("    }")
    w("")
    w("    /// Encodes a method frame payload: class id, method id, then the arguments.")
    w("    public func encode(into buffer: inout ByteBuffer) {")
    w("        buffer.writeMultipleIntegers(self.classID, self.methodID)")
    w("        switch self {")
    for m in methods:
        w("        case .%s(let m): m.encodeArguments(into: &buffer)" % m.case)
    w("        }")
    w("    }")
    w("}")
    return "\n".join(out) + "\n"


def sample_value(f, seed, bit_on):
    p = f.prim
    if p == "octet":
        return "%d" % (1 + seed % 250)
    if p == "short":
        return "%d" % (1000 + seed)
    if p == "long":
        return "%d" % (100_000 + seed)
    if p in ("longlong", "timestamp"):
        return "%d" % ((1 << 40) + seed)
    if p == "bit":
        return "true" if bit_on else "false"
    if p == "shortstr":
        return '"%s-%d"' % (f.spec_name, seed)
    if p == "longstr":
        return "Array(\"%s-%d\".utf8)" % (f.spec_name, seed)
    if p == "table":
        return '["k%d": .longString(Array("v".utf8)), "n": .table(["x": .int32(%d)])]' % (seed, seed)
    raise ValueError(p)


def gen_samples(methods):
    out = []
    w = out.append
    w("// GENERATED by Sources/AMQPWire/Generator/generate.py from %s — do not edit" % SPEC_NAME)
    w("//")
    w("// Every method with every field set to a non-default value (all bits set), and again with")
    w("// alternating bits, for the round-trip tests.")
    w("import AMQPWire")
    w("")
    w("enum MethodSamples {")
    w("    static let all: [AMQPMethod] = [")
    for i, m in enumerate(methods):
        has_bits = any(f.prim == "bit" for f in m.fields)
        variants = [True, False] if has_bits else [True]
        for v, first_on in enumerate(variants):
            args = []
            bit_i = 0
            for j, f in enumerate(m.fields):
                seed = i * 10 + j + v * 7
                if f.prim == "bit":
                    on = True if v == 0 else (bit_i % 2 == 1)
                    bit_i += 1
                else:
                    on = True
                args.append("%s: %s" % (f.name, sample_value(f, seed, on)))
            w("        .%s(%s(%s))," % (m.case, m.struct, ", ".join(args)))
    w("    ]")
    w("")
    w("    /// Number of methods the generator knew about.")
    w("    static let methodCount = %d" % len(methods))
    w("}")
    return "\n".join(out) + "\n"


def main():
    spec = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SPEC
    methods, class_index = load(spec)
    with open(METHODS_OUT, "w", encoding="utf-8") as fh:
        fh.write(gen_methods(methods, class_index))
    with open(SAMPLES_OUT, "w", encoding="utf-8") as fh:
        fh.write(gen_samples(methods))
    print("wrote %d methods to %s and %s" % (len(methods), METHODS_OUT, SAMPLES_OUT))


if __name__ == "__main__":
    main()
