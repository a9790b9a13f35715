import NIOCore

/// One RESP2 value as a Redis server sends it. Bulk strings stay `ByteBuffer` slices of the bytes
/// read (binary-safe, never copied); `nil` bulk strings and arrays are Redis's "null" replies.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer?)
    case array([RESPValue]?)

    /// The text of a simple or bulk string (bulk bytes read as UTF-8).
    public var string: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulkString(let bytes?): return String(buffer: bytes)
        default: return nil
        }
    }

    /// An integer reply's value.
    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// A non-null array's elements.
    public var array: [RESPValue]? {
        if case .array(let values?) = self { return values }
        return nil
    }

    /// A non-null bulk string's bytes.
    public var bytes: ByteBuffer? {
        if case .bulkString(let bytes?) = self { return bytes }
        return nil
    }
}

/// One argument of a command. Commands go out as RESP arrays of bulk strings, so every argument
/// is bytes; the cases only save callers the conversion.
public enum RESPArgument: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)
    case integer(Int)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }

    var byteCount: Int {
        switch self {
        case .string(let text): return text.utf8.count
        case .bytes(let bytes): return bytes.readableBytes
        case .integer: return 20
        }
    }
}

extension ByteBuffer {
    /// Writes `arguments` as one command: `*<n>\r\n` then `$<len>\r\n<bytes>\r\n` per argument.
    mutating func writeRESPCommand(_ arguments: [RESPArgument]) {
        writeRESPHeader(UInt8(ascii: "*"), arguments.count)
        for argument in arguments {
            switch argument {
            case .string(let text):
                writeRESPHeader(UInt8(ascii: "$"), text.utf8.count)
                writeString(text)
            case .bytes(let bytes):
                writeRESPHeader(UInt8(ascii: "$"), bytes.readableBytes)
                writeImmutableBuffer(bytes)
            case .integer(let value):
                let text = String(value)  // at most 20 bytes: a small string, no allocation
                writeRESPHeader(UInt8(ascii: "$"), text.utf8.count)
                writeString(text)
            }
            writeStaticString("\r\n")
        }
    }

    private mutating func writeRESPHeader(_ type: UInt8, _ count: Int) {
        writeInteger(type)
        writeString(String(count))
        writeStaticString("\r\n")
    }

    /// A buffer holding `arguments` encoded as one command.
    static func respCommand(_ arguments: [RESPArgument]) -> ByteBuffer {
        var buffer = ByteBufferAllocator.shared.buffer(
            capacity: arguments.reduce(16) { $0 + $1.byteCount + 16 })
        buffer.writeRESPCommand(arguments)
        return buffer
    }
}
