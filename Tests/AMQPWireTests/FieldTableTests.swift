import NIOCore
import Testing
@testable import AMQPWire

@Suite("Field tables")
struct FieldTableTests {
    static let everyType: FieldTable = [
        "bool": .bool(true),
        "int8": .int8(-5),
        "uint8": .uint8(250),
        "int16": .int16(-30_000),
        "uint16": .uint16(65_000),
        "int32": .int32(-2_000_000_000),
        "uint32": .uint32(4_000_000_000),
        "int64": .int64(-9_000_000_000_000),
        "float": .float(1.5),
        "double": .double(-2.25),
        "decimal": .decimal(scale: 2, value: 125),
        "longString": .longString(Array("héllo".utf8)),
        "array": .array([.int32(1), .longString(Array("a".utf8)), .table(["inner": .array([.void, .bool(false)])])]),
        "timestamp": .timestamp(1_700_000_000),
        "table": .table(["nested": .table(["deep": .uint8(1)])]),
        "void": .void,
        "bytes": .byteArray([0, 1, 2, 0xFF]),
    ]

    @Test("a table with every type, nested tables in arrays in tables, round-trips")
    func everyTypeRoundTrips() throws {
        var buffer = ByteBuffer()
        buffer.writeFieldTable(Self.everyType)
        let decoded = try buffer.readFieldTable()
        #expect(decoded == Self.everyType)
        #expect(buffer.readableBytes == 0)
        #expect(Array(decoded.entries.map(\.key)) == Array(Self.everyType.entries.map(\.key)))
    }

    @Test("the empty table is four zero bytes")
    func emptyTable() throws {
        var buffer = ByteBuffer()
        buffer.writeFieldTable([:])
        #expect(buffer.hexString == "00000000")
        #expect(try buffer.readFieldTable().isEmpty)
    }

    /// Client properties exactly as pika 1.4.4's `pika.data.encode_table` writes them.
    static let pikaClientProperties = """
        000000fc0770726f64756374530000001a50696b6120507974686f6e20436c69656e74204c696272617279\
        08706c6174666f726d530000000b507974686f6e20332e31310c6361706162696c69746965734600000\
        06f1c61757468656e7469636174696f6e5f6661696c7572655f636c6f736574010a62617369632e6e61\
        636b740112636f6e6e656374696f6e2e626c6f636b6564740116636f6e73756d65725f63616e63656c5f\
        6e6f746966797401127075626c69736865725f636f6e6669726d7374010b696e666f726d6174696f6e53\
        0000001853656520687474703a2f2f70696b612e727466642e6f72670776657273696f6e530000000531\
        2e342e34
        """

    @Test("pika's client properties decode, with the nested capabilities table")
    func pikaFixture() throws {
        var buffer = ByteBuffer(hex: Self.pikaClientProperties)
        let original = buffer
        let table = try buffer.readFieldTable()
        #expect(buffer.readableBytes == 0)
        #expect(table["product"] == .longString(Array("Pika Python Client Library".utf8)))
        #expect(table["version"] == .longString(Array("1.4.4".utf8)))
        guard case .table(let capabilities)? = table["capabilities"] else {
            Issue.record("no capabilities table")
            return
        }
        #expect(capabilities["publisher_confirms"] == .bool(true))
        #expect(capabilities["basic.nack"] == .bool(true))
        #expect(capabilities["connection.blocked"] == .bool(true))
        #expect(capabilities["consumer_cancel_notify"] == .bool(true))
        #expect(capabilities["authentication_failure_close"] == .bool(true))
        #expect(capabilities.entries.count == 5)
        // Order is kept, so the table re-encodes to the same bytes.
        var again = ByteBuffer()
        again.writeFieldTable(table)
        #expect(again == original)
    }

    @Test("headers with an array holding a table holding void decode (pika fixture)")
    func pikaArrayFixture() throws {
        var buffer = ByteBuffer(hex: "00000023" + "0178490000000103617272410000001349000000015300000001614600000003016e56")
        let table = try buffer.readFieldTable()
        #expect(table == ["x": .int32(1), "arr": .array([.int32(1), .longString([0x61]), .table(["n": .void])])])
    }

    @Test("'U' decodes as int16 and 'L' as int64; RabbitMQ's 's' and 'l' are written")
    func extraLetters() throws {
        var buffer = ByteBuffer(hex: "00000010" + "0161" + "55fffe" + "0162" + "4c0000000000000007")
        let table = try buffer.readFieldTable()
        #expect(table == ["a": .int16(-2), "b": .int64(7)])
        var out = ByteBuffer()
        out.writeFieldTable(table)
        #expect(out.hexString == "00000010" + "0161" + "73fffe" + "0162" + "6c0000000000000007")
    }

    @Test("an unknown field type is a 502 syntax error")
    func unknownType() {
        var buffer = ByteBuffer(hex: "00000003" + "0161" + "5a")
        let error = wireError { () throws(AMQPWireError) in try buffer.readFieldTable() }
        #expect(error?.code == .syntaxError)
        #expect(error?.message.contains("'Z'") == true)
    }

    @Test("lengths that overrun the buffer or the table are 502 errors")
    func overruns() {
        let cases = [
            "000000ff",                              // table longer than the buffer
            "0000",                                  // truncated length
            "00000004" + "0161" + "53",              // value cut by the table's end
            "00000008" + "0161" + "53" + "ffffffff", // long string longer than the table
            "00000006" + "0161" + "41" + "000000",   // array length cut
            "00000003" + "05616263",                 // key longer than the table
            "00000009" + "0161" + "41" + "00000002" + "73", // int16 cut by the array's end
        ]
        for hex in cases {
            var buffer = ByteBuffer(hex: hex)
            let error = wireError { () throws(AMQPWireError) in try buffer.readFieldTable() }
            #expect(error?.code == .syntaxError, "\(hex)")
        }
    }

    @Test("every truncation of a rich table throws instead of crashing")
    func everyTruncation() {
        var full = ByteBuffer()
        full.writeFieldTable(Self.everyType)
        for length in 0..<full.readableBytes {
            var prefix = full.getSlice(at: 0, length: length)!
            #expect(wireError { () throws(AMQPWireError) in try prefix.readFieldTable() }?.code == .syntaxError)
        }
    }

    @Test("nesting beyond the limit is rejected without deep recursion")
    func deepNesting() {
        var value = FieldValue.void
        for _ in 0..<200 { value = .array([value]) }
        var buffer = ByteBuffer()
        buffer.writeFieldTable(["deep": value])
        #expect(wireError { () throws(AMQPWireError) in try buffer.readFieldTable() }?.code == .syntaxError)

        var shallow: FieldValue = .void
        for _ in 0..<10 { shallow = .table(["t": shallow]) }
        var ok = ByteBuffer()
        ok.writeFieldTable(["deep": shallow])
        #expect(try! ok.readFieldTable() == ["deep": shallow])
    }

    @Test("short and long string helpers round-trip and reject overruns")
    func stringHelpers() throws {
        var buffer = ByteBuffer()
        buffer.writeShortString("amq.direct")
        buffer.writeLongString(Array("PLAIN".utf8))
        buffer.writeLongString("en_US")
        #expect(try buffer.readShortString() == "amq.direct")
        #expect(try buffer.readLongString() == Array("PLAIN".utf8))
        #expect(try buffer.readLongStringAsString() == "en_US")
        var short = ByteBuffer(hex: "05616263")
        #expect(wireError { () throws(AMQPWireError) in try short.readShortString() }?.code == .syntaxError)
        #expect(short.readableBytes == 4)
        var long = ByteBuffer(hex: "ffffffff00")
        #expect(wireError { () throws(AMQPWireError) in try long.readLongString() }?.code == .syntaxError)
    }
}
