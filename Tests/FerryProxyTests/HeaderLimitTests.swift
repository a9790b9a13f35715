import NIOCore
import Testing

@testable import FerryProxy

/// 431 for too many or too large header fields, 414 for a long request line, enforced both
/// on a complete head and while a head is still arriving (so a slow client cannot make the
/// buffer grow without bound).
@Suite("HTTP/1 header limits")
struct HeaderLimitTests {
    static let fieldLimits = HTTP1Parser.Limits(maxHeaderBytes: 100, maxHeaderCount: 4, maxRequestLineBytes: 1000)
    static let lineLimits = HTTP1Parser.Limits(maxHeaderBytes: 1000, maxHeaderCount: 10, maxRequestLineBytes: 40)

    func head(fieldCount: Int, value: String = "v") -> [UInt8] {
        wire("GET / HTTP/1.1\r\n" + (0..<fieldCount).map { "x-\($0): \(value)\r\n" }.joined() + "\r\n")
    }

    /// Feeds `bytes` one at a time; the first error and how many bytes had arrived by then.
    func feedByteByByte(_ bytes: [UInt8], limits: HTTP1Parser.Limits) -> (error: HTTP1ParseError, at: Int)? {
        var parser = HTTP1Parser(role: .server, limits: limits)
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        for (index, byte) in bytes.enumerated() {
            buffer.writeInteger(byte)
            do {
                _ = try parser.next(&buffer)
            } catch {
                return (error, index + 1)
            }
        }
        return nil
    }

    /// Default limits; an endless head arriving one 1012-byte field line per read. The first error
    /// and how many bytes were buffered by then.
    func trickleFieldLines() -> (error: HTTP1ParseError?, buffered: Int) {
        var parser = HTTP1Parser(role: .server)
        var buffer = ByteBufferAllocator().buffer(capacity: 70 * 1024)
        buffer.writeString("GET / HTTP/1.1\r\n")
        while buffer.readableBytes < 80 * 1024 {
            buffer.writeString("x-filler: \(String(repeating: "v", count: 1000))\r\n")
            do {
                _ = try parser.next(&buffer)
            } catch {
                return (error, buffer.readableBytes)
            }
        }
        return (nil, buffer.readableBytes)
    }

    @Test("exactly the maximum number of fields is accepted; one more is 431")
    func fieldCount() {
        let atLimit = ParserDriver(limits: Self.fieldLimits).run(head(fieldCount: 4))
        #expect(atLimit.error == nil)
        #expect(atLimit.events.count == 2)
        expectRejectedHead(head(fieldCount: 5), status: 431, detail: "http1.too_many_headers", limits: Self.fieldLimits)
    }

    @Test("the default limit allows 100 fields and refuses 101")
    func defaultFieldCount() {
        #expect(ParserDriver().run(head(fieldCount: 100)).error == nil)
        expectRejectedHead(head(fieldCount: 101), status: 431, detail: "http1.too_many_headers")
    }

    @Test("head bytes (request line and fields) up to the limit are accepted; over it is 431")
    func fieldBytes() {
        // Envoy's measure: the request line and the field lines, without terminators. The
        // 14-byte request line plus one 86-byte field line ("x: " + 83 bytes) is exactly 100.
        let driver = ParserDriver(limits: Self.fieldLimits)
        let atLimit = driver.run(wire("GET / HTTP/1.1\r\nx: \(String(repeating: "v", count: 83))\r\n\r\n"))
        #expect(atLimit.error == nil)
        expectRejectedHead(
            wire("GET / HTTP/1.1\r\nx: \(String(repeating: "v", count: 84))\r\n\r\n"), status: 431,
            detail: "http1.headers_too_large", limits: Self.fieldLimits)
    }

    @Test("oversized fields are refused while the head is still incomplete, fed byte by byte")
    func fieldBytesWhileIncomplete() {
        // A head that never ends: the parser must give up within a line ending past the limit.
        let endless = wire("GET / HTTP/1.1\r\nx-a: " + String(repeating: "v", count: 300))
        let failure = feedByteByByte(endless, limits: Self.fieldLimits)
        #expect(failure?.error == HTTP1ParseError(status: 431, "http1.headers_too_large"))
        // 16 bytes of request line, then no more than the 100 allowed bytes and a line ending.
        #expect((16...(16 + 100 + 2)).contains(failure?.at ?? .max))
    }

    @Test("a header section trickling in without an end is cut off near the default 60 KiB")
    func defaultLimitBoundsBuffering() {
        let (failure, buffered) = trickleFieldLines()
        // Bounded: the limit plus the read that crossed it and the line before.
        #expect(failure != nil)
        #expect(buffered <= 60 * 1024 + 16 + 2 * 1012)
    }

    @Test("a header section trickling in line by line past 60 KiB is 431, not 414")
    func trickledHeadersAre431() {
        #expect(trickleFieldLines().error == HTTP1ParseError(status: 431, "http1.headers_too_large"))
    }

    @Test("a request line over the limit is 414 while it is still arriving")
    func requestLineWhileIncomplete() {
        let driver = ParserDriver(limits: Self.lineLimits)
        let line = wire("GET /\(String(repeating: "a", count: 60)) HTTP/1.1\r\nHost: a\r\n\r\n")
        let outcome = driver.run(line, readSize: 1)
        #expect(outcome.error == HTTP1ParseError(status: 414, "http1.request_line_too_long"))
        #expect(outcome.events == [])
        let noEnd = driver.run(wire("GET /" + String(repeating: "a", count: 60)), readSize: 8)
        #expect(noEnd.error == HTTP1ParseError(status: 414, "http1.request_line_too_long"))
        #expect(feedByteByByte(line, limits: Self.lineLimits)?.at == 41)
    }

    @Test("a request line within the limit is accepted, in one read or byte by byte")
    func requestLineWithinLimit() {
        // "GET /" + 24 + " HTTP/1.0" = 38 bytes; with CRLF 40. (No fields: see withinLimitsAnySplit.)
        let message = wire("GET /\(String(repeating: "a", count: 24)) HTTP/1.0\r\n\r\n")
        for readSize in [nil, 1] as [Int?] {
            let outcome = ParserDriver(limits: Self.lineLimits).run(message, readSize: readSize)
            #expect(outcome.error == nil)
            #expect(outcome.events.count == 2)
        }
    }

    @Test("a request line over the limit is 414 also when the whole head arrives in one read")
    func requestLineInOneRead() {
        expectRejectedHead(
            wire("GET /\(String(repeating: "a", count: 60)) HTTP/1.1\r\nHost: a\r\n\r\n"), status: 414,
            detail: "http1.request_line_too_long", limits: Self.lineLimits)
    }

    @Test("a head within both limits is accepted however it is split into reads")
    func withinLimitsAnySplit() {
        // 4 field lines of 12 bytes; the second one's LF lies past byte 40, the request line limit.
        let pastLineLimit = wire("GET / HTTP/1.1\r\n" + (0..<4).map { "x-\($0): vvvvvvv\r\n" }.joined() + "\r\n")
        // A request line of exactly 40 bytes.
        let lineAtLimit = wire("GET /\(String(repeating: "a", count: 26)) HTTP/1.1\r\n\r\n")
        for message in [pastLineLimit, lineAtLimit] {
            #expect(ParserDriver(limits: Self.lineLimits).run(message).error == nil)
            #expect(ParserDriver(limits: Self.lineLimits).run(message, readSize: 1).error == nil)
        }
        // The request line and 7 field lines of 12 bytes are 98 bytes (< 100), 114 with their CRLFs.
        let crlfHeavy = wire("GET / HTTP/1.1\r\n" + (0..<7).map { "x-\($0): vvvvvvv\r\n" }.joined() + "\r\n")
        let fieldLimits = HTTP1Parser.Limits(maxHeaderBytes: 100, maxHeaderCount: 10, maxRequestLineBytes: 1000)
        #expect(ParserDriver(limits: fieldLimits).run(crlfHeavy).error == nil)
        #expect(ParserDriver(limits: fieldLimits).run(crlfHeavy, readSize: 1).error == nil)
    }
}
