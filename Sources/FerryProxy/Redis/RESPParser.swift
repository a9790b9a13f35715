import NIOCore

/// Why bytes from a Redis server are not RESP2. Any of these ends the connection.
public enum RESPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A value starting with a byte that is none of `+ - : $ *`.
    case invalidType(UInt8)
    /// An integer, length or count that is not `-?[0-9]{1,19}` or overflows.
    case invalidInteger
    /// A length or count below -1.
    case invalidLength(Int)
    /// A bulk string longer than `Limits.maxBulkLength`.
    case bulkTooLarge(Int)
    /// An array with more elements than `Limits.maxArrayCount`.
    case arrayTooLarge(Int)
    /// Arrays nested deeper than `Limits.maxDepth`.
    case tooDeep
    /// A line (simple string, error, integer, header) longer than `Limits.maxLineLength`.
    case lineTooLong
    /// A CR not followed by LF, or bulk bytes not followed by CRLF.
    case missingCRLF

    public var description: String {
        switch self {
        case .invalidType(let byte): return "invalid RESP type byte 0x\(String(byte, radix: 16))"
        case .invalidInteger: return "invalid RESP integer"
        case .invalidLength(let length): return "invalid RESP length \(length)"
        case .bulkTooLarge(let length): return "RESP bulk string of \(length) bytes is over the limit"
        case .arrayTooLarge(let count): return "RESP array of \(count) elements is over the limit"
        case .tooDeep: return "RESP arrays nested too deep"
        case .lineTooLong: return "RESP line over the limit"
        case .missingCRLF: return "RESP value not terminated by CRLF"
        }
    }
}

/// An incremental RESP2 reply parser: `next` returns one complete value from the front of a
/// buffer, or nil (consuming nothing) until the buffer holds one. Bounded: bulk strings, arrays,
/// lines and nesting have limits, so a hostile server can neither exhaust memory nor the stack.
///
/// An incomplete value is parsed again from its start when more bytes arrive; the parser
/// remembers how many bytes the last attempt needed at least, so a large bulk string is parsed
/// once, when its last byte arrives.
public struct RESPParser {
    public struct Limits: Sendable {
        /// Redis's own `proto-max-bulk-len` default.
        public var maxBulkLength = 512 * 1024 * 1024
        public var maxArrayCount = 1024 * 1024
        public var maxDepth = 32
        public var maxLineLength = 64 * 1024

        public init() {}
    }

    public let limits: Limits
    /// Readable bytes the buffer needs before another attempt can complete a value.
    private var needed = 0

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// The next complete value at the front of `buffer` (consumed), or nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) throws(RESPParseError) -> RESPValue? {
        guard buffer.readableBytes > 0, buffer.readableBytes >= needed else { return nil }
        var index = buffer.readerIndex
        guard let value = try parseValue(buffer, &index, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: index)
        needed = 0
        return value
    }

    /// Nil when incomplete, with `needed` set to the least readable byte count that could complete it.
    private mutating func parseValue(_ buffer: ByteBuffer, _ index: inout Int, depth: Int) throws(RESPParseError)
        -> RESPValue?
    {
        guard let type = buffer.getInteger(at: index, as: UInt8.self) else {
            return incomplete(buffer, end: index + 1)
        }
        guard let line = try readLine(buffer, from: index + 1) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            index = line.next
            return .simpleString(buffer.getString(at: line.start, length: line.length) ?? "")
        case UInt8(ascii: "-"):
            index = line.next
            return .error(buffer.getString(at: line.start, length: line.length) ?? "")
        case UInt8(ascii: ":"):
            index = line.next
            return .integer(try Self.integer(buffer, line))
        case UInt8(ascii: "$"):
            return try parseBulk(buffer, &index, line)
        case UInt8(ascii: "*"):
            return try parseArray(buffer, &index, line, depth: depth)
        default:
            throw .invalidType(type)
        }
    }

    private mutating func parseBulk(_ buffer: ByteBuffer, _ index: inout Int, _ line: Line) throws(RESPParseError)
        -> RESPValue?
    {
        let length = try Self.integer(buffer, line)
        if length == -1 {
            index = line.next
            return .bulkString(nil)
        }
        guard length >= 0 else { throw .invalidLength(length) }
        guard length <= limits.maxBulkLength else { throw .bulkTooLarge(length) }
        let end = line.next + length
        guard end + 2 <= buffer.writerIndex else { return incomplete(buffer, end: end + 2) }
        guard buffer.getInteger(at: end, as: UInt16.self) == Self.crlf else { throw .missingCRLF }
        index = end + 2
        return .bulkString(buffer.getSlice(at: line.next, length: length))
    }

    private mutating func parseArray(_ buffer: ByteBuffer, _ index: inout Int, _ line: Line, depth: Int)
        throws(RESPParseError) -> RESPValue?
    {
        let count = try Self.integer(buffer, line)
        if count == -1 {
            index = line.next
            return .array(nil)
        }
        guard count >= 0 else { throw .invalidLength(count) }
        guard count <= limits.maxArrayCount else { throw .arrayTooLarge(count) }
        guard depth < limits.maxDepth else { throw .tooDeep }
        var cursor = line.next
        var elements: [RESPValue] = []
        // Every element takes at least 3 bytes: never reserve more than the bytes could hold.
        elements.reserveCapacity(min(count, (buffer.writerIndex - cursor) / 3 + 1))
        for _ in 0..<count {
            guard let element = try parseValue(buffer, &cursor, depth: depth + 1) else { return nil }
            elements.append(element)
        }
        index = cursor
        return .array(elements)
    }

    private struct Line {
        var start: Int
        var length: Int
        /// The index after the line's CRLF.
        var next: Int { start + length + 2 }
    }

    private static let crlf = UInt16(UInt8(ascii: "\r")) << 8 | UInt16(UInt8(ascii: "\n"))

    /// The line starting at `start` up to its CRLF, or nil when the CRLF has not arrived yet.
    private mutating func readLine(_ buffer: ByteBuffer, from start: Int) throws(RESPParseError) -> Line? {
        let available = buffer.writerIndex - start
        let scanned = min(available, limits.maxLineLength + 1)
        let offset = start - buffer.readerIndex
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            bytes[offset..<(offset + scanned)].firstIndex(of: UInt8(ascii: "\r")).map { $0 - offset }
        }
        guard let length = found else {
            if available > limits.maxLineLength { throw .lineTooLong }
            return incomplete(buffer, end: buffer.writerIndex + 1)
        }
        guard length <= limits.maxLineLength else { throw .lineTooLong }
        guard let lf = buffer.getInteger(at: start + length + 1, as: UInt8.self) else {
            return incomplete(buffer, end: start + length + 2)
        }
        guard lf == UInt8(ascii: "\n") else { throw .missingCRLF }
        return Line(start: start, length: length)
    }

    private static func integer(_ buffer: ByteBuffer, _ line: Line) throws(RESPParseError) -> Int {
        guard line.length > 0, line.length <= 20, let bytes = buffer.viewBytes(at: line.start, length: line.length)
        else { throw .invalidInteger }
        let negative = bytes.first == UInt8(ascii: "-")
        let digits = negative ? bytes.dropFirst() : bytes[...]
        guard !digits.isEmpty else { throw .invalidInteger }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw .invalidInteger }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw .invalidInteger }
            value = sum
        }
        return negative ? -value : value
    }

    private mutating func incomplete<T>(_ buffer: ByteBuffer, end: Int) -> T? {
        needed = end - buffer.readerIndex
        return nil
    }
}
