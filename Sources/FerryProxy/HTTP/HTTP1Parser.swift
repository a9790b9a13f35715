import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Incremental HTTP/1.x parser for one connection, as a value-type state machine: the handler
/// feeds it its receive buffer and acts on the events it returns.
///
/// Framing follows RFC 9112 strictly, because a proxy and its upstream must never disagree
/// on where a message ends (request smuggling): both Content-Length and Transfer-Encoding,
/// differing lengths, a Transfer-Encoding whose last coding is not `chunked`, bad chunk
/// lines, obsolete line folding, whitespace before a colon and control bytes in fields are
/// all errors. A bare LF ends head lines (RFC 9112 §2.2); chunk lines need CRLF.
struct HTTP1Parser {
    enum Role { case server, client }

    enum Event {
        case requestHead(RequestHead)
        case responseHead(ResponseHead)
        case body(ByteBuffer)
        /// The message is complete; trailers when the chunked body had any.
        case end(HeaderMap?)
    }

    struct Limits {
        /// Bytes of header fields in one head (Envoy's max_request_headers_kb).
        var maxHeaderBytes = 60 * 1024
        var maxHeaderCount = 100
        /// Longest request line; longer gets 414.
        var maxRequestLineBytes = 60 * 1024
    }

    enum State {
        case head
        case fixed(remaining: Int)
        case chunkHeader
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        /// After a successful upgrade every byte is opaque payload.
        case tunnel
    }

    let role: Role
    var limits: Limits
    var state: State = .head
    /// How far an incomplete head was already scanned for its end.
    private var scanned = 0
    /// Line-terminator bytes of an incomplete head scanned so far.
    private var scannedTerminators = 0
    /// Client role: the method of the request the next response answers (HEAD has no body).
    var pendingRequestMethod: String = "GET"

    init(role: Role, limits: Limits = Limits()) {
        self.role = role
        self.limits = limits
    }

    var isIdle: Bool { if case .head = state { true } else { false } }
    var isInBody: Bool {
        switch state {
        case .head: false
        default: true
        }
    }

    /// Switch to opaque pass-through (after `101 Switching Protocols`).
    mutating func switchToTunnel() { state = .tunnel }

    /// The next event from `buffer`, consuming the bytes it covers; nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        switch state {
        case .head:
            return try parseHead(&buffer)
        case .fixed(let remaining):
            if remaining == 0 {
                state = .head
                return .end(nil)
            }
            guard buffer.readableBytes > 0 else { return nil }
            let n = min(remaining, buffer.readableBytes)
            let slice = buffer.readSlice(length: n)!
            state = .fixed(remaining: remaining - n)
            return .body(slice)
        case .untilClose, .tunnel:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .chunkHeader:
            return try parseChunkHeader(&buffer)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let n = min(remaining, buffer.readableBytes)
            let slice = buffer.readSlice(length: n)!
            state = n == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - n)
            return .body(slice)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else {
                if buffer.readableBytes == 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) != 0x0D {
                    throw .bad("invalid_chunk_terminator")
                }
                return nil
            }
            guard buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A else {
                throw .bad("invalid_chunk_terminator")
            }
            buffer.moveReaderIndex(forwardBy: 2)
            state = .chunkHeader
            return try parseChunkHeader(&buffer)
        case .trailers:
            return try parseTrailers(&buffer)
        }
    }

    /// The peer closed the connection. Returns `.end` when that legitimately ends the message
    /// (close-delimited response); throws when a message was cut short.
    mutating func endOfInput() throws(HTTP1ParseError) -> Event? {
        switch state {
        case .untilClose, .tunnel:
            state = .head
            return .end(nil)
        case .head:
            return nil
        default:
            throw HTTP1ParseError(status: 400, "http1.truncated_message")
        }
    }

    // MARK: head

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        // Skip empty lines before a request line (RFC 9112 §2.2 allows one; be tolerant of several).
        if role == .server {
            while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == 0x0D || byte == 0x0A {
                if byte == 0x0D {
                    guard let next = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
                    guard next == 0x0A else { throw .bad("invalid_line_ending") }
                    buffer.moveReaderIndex(forwardBy: 2)
                } else {
                    buffer.moveReaderIndex(forwardBy: 1)
                }
                scanned = 0
                scannedTerminators = 0
            }
        }
        guard buffer.readableBytes > 0 else { return nil }
        let limits = self.limits
        let role = self.role
        let start = scanned
        var terminators = scannedTerminators
        let scan: HeadScan = buffer.withUnsafeReadableBytes { bytes in
            Self.scanHead(bytes, from: start, terminators: &terminators, limits: limits, role: role)
        }
        scannedTerminators = terminators
        switch scan {
        case .needMore(let upTo):
            scanned = upTo
            return nil
        case .error(let error):
            throw error
        case .complete(let end):
            scanned = 0
            scannedTerminators = 0
            let result: Result<Event, HTTP1ParseError> = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(HTTP1ParseError) -> Event in
                    var parser = HeadParser(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), limits: limits)
                    return try parser.parse(role: role)
                }
            }
            var event = try result.get()
            buffer.moveReaderIndex(forwardBy: end)
            try setFraming(after: event)
            // Identical repeated lengths were accepted (RFC 9110 §8.6); forward one value only.
            switch event {
            case .requestHead(var head) where Self.normalizeContentLength(&head.headers): event = .requestHead(head)
            case .responseHead(var head) where Self.normalizeContentLength(&head.headers): event = .responseHead(head)
            default: break
            }
            return event
        }
    }

    enum HeadScan {
        case needMore(Int)
        case complete(Int)
        case error(HTTP1ParseError)
    }

    /// Finds the blank line that ends a head and enforces size limits while the head is incomplete,
    /// with the measure `HeadParser` applies to a complete head: the start line and the field
    /// lines without their terminators (the start line alone is also held to its own limit).
    /// `terminators` carries the terminator bytes counted by earlier scans (LFs before `start`).
    static func scanHead(_ bytes: UnsafeRawBufferPointer, from start: Int, terminators: inout Int, limits: Limits,
                         role: Role) -> HeadScan {
        let count = bytes.count
        guard let base = bytes.baseAddress else { return .needMore(0) }
        let firstLineEnd = memchr(base, 0x0A, count).map { base.distance(to: UnsafeRawPointer($0)) }
        var i = max(0, start - 2)
        while i < count {
            guard let found = memchr(base + i, 0x0A, count - i) else { break }
            let lf = base.distance(to: UnsafeRawPointer(found))
            if lf >= start { terminators += lf > 0 && bytes[lf - 1] == 0x0D ? 2 : 1 }
            if lf + 1 >= count { i = lf + 1; break }
            let next = bytes[lf + 1]
            if next == 0x0A { return .complete(lf + 2) }
            if next == 0x0D {
                if lf + 2 >= count { i = lf + 1; break }
                if bytes[lf + 2] == 0x0A { return .complete(lf + 3) }
            }
            i = lf + 1
        }
        // Incomplete: too big already? A trailing CR may still become a line's terminator.
        let trailingCR = count > 0 && bytes[count - 1] == 0x0D ? 1 : 0
        let requestLineLimit = role == .server ? limits.maxRequestLineBytes : limits.maxHeaderBytes
        let tooLong: HTTP1ParseError = role == .server ? .requestLineTooLong : .headersTooLarge
        if let lf = firstLineEnd {
            let lineLength = lf > 0 && bytes[lf - 1] == 0x0D ? lf - 1 : lf
            if lineLength > requestLineLimit { return .error(tooLong) }
            if count - terminators - trailingCR > limits.maxHeaderBytes { return .error(.headersTooLarge) }
        } else if count - trailingCR > requestLineLimit {
            return .error(tooLong)
        }
        return .needMore(count)
    }

    // MARK: framing

    private mutating func setFraming(after event: Event) throws(HTTP1ParseError) {
        switch event {
        case .requestHead(let head):
            state = try Self.requestFraming(head)
        case .responseHead(let head) where (100..<200).contains(head.status) && head.status != 101:
            // An interim response has no body and no end: the final response follows it.
            state = .head
        case .responseHead(let head):
            state = try Self.responseFraming(head, requestMethod: pendingRequestMethod)
        default:
            break
        }
    }

    static func requestFraming(_ head: RequestHead) throws(HTTP1ParseError) -> State {
        guard head.headers.containsFraming else { return .fixed(remaining: 0) }
        let te = head.headers.values("transfer-encoding")
        let cl = head.headers.values("content-length")
        if !te.isEmpty {
            if !cl.isEmpty { throw .bad("content_length_and_chunked_not_allowed") }
            if head.version == .http10 { throw .bad("transfer_encoding_not_allowed_in_http10") }
            return try chunkedFraming(te, isRequest: true)
        }
        if !cl.isEmpty { return .fixed(remaining: try contentLength(cl)) }
        return .fixed(remaining: 0)
    }

    static func responseFraming(_ head: ResponseHead, requestMethod: String) throws(HTTP1ParseError) -> State {
        if head.status == 101 { return .tunnel }
        if (100..<200).contains(head.status) || head.status == 204 || head.status == 304 || requestMethod == "HEAD" {
            return .fixed(remaining: 0)
        }
        if let length = head.headers.singleContentLength { return .fixed(remaining: length) }
        let te = head.headers.values("transfer-encoding")
        let cl = head.headers.values("content-length")
        if !te.isEmpty {
            if !cl.isEmpty { throw .bad("content_length_and_chunked_not_allowed") }
            // A response whose final coding is not chunked is delimited by the connection close.
            return (try? chunkedFraming(te, isRequest: false)) ?? .untilClose
        }
        if !cl.isEmpty { return .fixed(remaining: try contentLength(cl)) }
        return .untilClose
    }

    static func chunkedFraming(_ values: [String], isRequest: Bool) throws(HTTP1ParseError) -> State {
        var codings: [Substring] = []
        for value in values {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                let coding = part.trimmingSpaces()
                if coding.isEmpty { throw .bad("invalid_transfer_encoding") }
                codings.append(coding)
            }
        }
        guard let last = codings.last, last.lowercased() == "chunked" else { throw .bad("invalid_transfer_encoding") }
        if codings.count > 1 {
            if codings.dropLast().contains(where: { $0.lowercased() == "chunked" }) { throw .bad("invalid_transfer_encoding") }
            if isRequest { throw .transferCodingNotImplemented }
        }
        return .chunkHeader
    }

    /// Replaces `1,1` or repeated identical content-length fields by one field; true when changed.
    static func normalizeContentLength(_ headers: inout HeaderMap) -> Bool {
        // The common case (none, or one plain value) is decided without allocating.
        var fields = 0
        var listed = false
        for i in headers.entries.indices where headers.entries[i].name == "content-length" {
            fields += 1
            if headers.entries[i].value.utf8.contains(UInt8(ascii: ",")) { listed = true }
        }
        guard fields > 1 || listed else { return false }
        let values = headers.values("content-length")
        guard let length = try? contentLength(values) else { return false }
        headers.setLowercased("content-length", String(length))
        return true
    }

    /// One length, or a list of identical lengths (RFC 9110 §8.6); anything else is an error.
    static func contentLength(_ values: [String]) throws(HTTP1ParseError) -> Int {
        var length: Int?
        for value in values {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let n = decimalLength(part.trimmingSpaces()) else { throw .bad("invalid_content_length") }
                if let length, length != n { throw .bad("multiple_content_length") }
                length = n
            }
        }
        return length ?? 0
    }

    /// A content-length number: 1 to 18 decimal digits and nothing else (no sign, no spaces).
    /// HTTP/1 applies it to each item of a list; HTTP/2 to the whole value (no lists there).
    static func decimalLength(_ text: some StringProtocol) -> Int? {
        var result = 0
        var digits = 0
        for byte in text.utf8 {
            guard byte >= 0x30, byte <= 0x39, digits < 18 else { return nil }
            result = result * 10 + Int(byte - 0x30)
            digits += 1
        }
        return digits > 0 ? result : nil
    }
}
