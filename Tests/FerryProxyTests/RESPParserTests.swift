import NIOCore
import Testing

@testable import FerryProxy

@Suite("RESP2 parser")
struct RESPParserTests {
    /// Every value in `wire`, fed whole.
    static func parseAll(_ wire: String, limits: RESPParser.Limits = .init()) throws -> [RESPValue] {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(string: wire)
        var values: [RESPValue] = []
        while let value = try parser.next(&buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "bytes left over")
        return values
    }

    /// Every value in `wire`, fed one byte at a time into one accumulating buffer.
    static func parseByteByByte(_ wire: String) throws -> [RESPValue] {
        var parser = RESPParser()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in wire.utf8 {
            buffer.writeInteger(byte)
            while let value = try parser.next(&buffer) { values.append(value) }
        }
        return values
    }

    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    static let mixed =
        "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
        + "*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n$-1\r\n"
    static let mixedValues: [RESPValue] = [
        .simpleString("OK"), .error("ERR wrong"), .integer(42), .integer(-7), bulk("he\r\no"), bulk(""),
        .bulkString(nil), .array(nil), .array([]),
        .array([.integer(1), .array([.simpleString("a"), bulk("b")]), .bulkString(nil)]),
    ]

    @Test("every RESP2 type, nulls and nesting included; bulk strings may hold CRLF")
    func allTypes() throws {
        #expect(try Self.parseAll(Self.mixed) == Self.mixedValues)
    }

    @Test("the same values arrive one byte at a time")
    func byteByByte() throws {
        #expect(try Self.parseByteByByte(Self.mixed) == Self.mixedValues)
    }

    @Test("an incomplete value consumes nothing until its last byte arrives")
    func incompleteConsumesNothing() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "*2\r\n$3\r\nab")
        #expect(try parser.next(&buffer) == nil)
        #expect(buffer.readableBytes == 10)
        buffer.writeString("c\r\n:")
        #expect(try parser.next(&buffer) == nil)
        buffer.writeString("5\r\n+next")
        #expect(try parser.next(&buffer) == .array([Self.bulk("abc"), .integer(5)]))
        #expect(String(buffer: buffer) == "+next")
    }

    @Test(
        "malformed replies are errors, never crashes",
        arguments: [
            ("!oops\r\n", RESPParseError.invalidType(UInt8(ascii: "!"))),
            (":12a\r\n", .invalidInteger), (":\r\n", .invalidInteger), (":-\r\n", .invalidInteger),
            (":99999999999999999999\r\n", .invalidInteger), ("$-2\r\n", .invalidLength(-2)),
            ("*-5\r\n", .invalidLength(-5)), ("$3\r\nabcXY", .missingCRLF), ("+OK\rX", .missingCRLF),
            ("$x\r\n", .invalidInteger), ("*1\r\n?\r\n", .invalidType(UInt8(ascii: "?"))),
            ("%1\r\n", .invalidType(UInt8(ascii: "%"))),  // RESP3 maps: we never ask for RESP3
        ])
    func malformed(wire: String, error: RESPParseError) {
        #expect(throws: error) { _ = try Self.parseAll(wire) }
    }

    @Test("a bulk string over the limit is refused from its header, before its bytes are buffered")
    func bulkLimit() {
        #expect(throws: RESPParseError.bulkTooLarge(600_000_000)) { _ = try Self.parseAll("$600000000\r\n") }
        var limits = RESPParser.Limits()
        limits.maxBulkLength = 4
        #expect(throws: RESPParseError.bulkTooLarge(5)) { _ = try Self.parseAll("$5\r\nhello\r\n", limits: limits) }
        #expect((try? Self.parseAll("$4\r\nhell\r\n", limits: limits)) == [Self.bulk("hell")])
    }

    @Test("arrays nested deeper than the limit are refused; at the limit they parse")
    func depthLimit() throws {
        var limits = RESPParser.Limits()
        limits.maxDepth = 3
        #expect(try Self.parseAll("*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits).count == 1)
        #expect(throws: RESPParseError.tooDeep) {
            _ = try Self.parseAll("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits)
        }
        // The default limit stops a hostile nesting long before the stack could overflow.
        let deep = String(repeating: "*1\r\n", count: 100_000)
        #expect(throws: RESPParseError.tooDeep) { _ = try Self.parseAll(deep) }
    }

    @Test("huge array counts are refused, and a plausible count reserves no more than the bytes could hold")
    func arrayLimit() throws {
        #expect(throws: RESPParseError.arrayTooLarge(2_000_000_000)) { _ = try Self.parseAll("*2000000000\r\n") }
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "*1000000\r\n:1\r\n")
        #expect(try parser.next(&buffer) == nil)
    }

    @Test("a line without CRLF past the line limit is refused rather than buffered forever")
    func lineLimit() throws {
        var limits = RESPParser.Limits()
        limits.maxLineLength = 16
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(string: "+" + String(repeating: "a", count: 16))
        #expect(try parser.next(&buffer) == nil)
        buffer.writeString("a")
        #expect(throws: RESPParseError.lineTooLong) { _ = try parser.next(&buffer) }
    }

    @Test("commands encode as arrays of bulk strings, binary bytes as given")
    func encoder() throws {
        var bytes = ByteBuffer(string: "a\r\n")
        bytes.writeInteger(UInt8(0))
        let command = ByteBuffer.respCommand(["SET", "k", .bytes(bytes), .integer(-12)])
        #expect(String(buffer: command) == "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\n\0\r\n$3\r\n-12\r\n")
        // What the encoder writes, the parser reads back (as Redis would echo it).
        let echoed = try Self.parseAll(String(buffer: command))
        #expect(echoed == [.array([Self.bulk("SET"), Self.bulk("k"), .bulkString(bytes), Self.bulk("-12")])])
    }
}
