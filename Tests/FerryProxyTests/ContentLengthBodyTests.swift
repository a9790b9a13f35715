import NIOCore
import Testing

@testable import FerryProxy

@Suite("HTTP/1 Content-Length bodies")
struct ContentLengthBodyTests {
    static let head = "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
    static let request = Parsed.request(
        .init(method: "POST", path: "/u", authority: "a", headers: ["content-length: 10"]))

    @Test(
        "a body split across many reads streams as several slices and ends after exactly its length",
        arguments: [1, 2, 3, 5, 9])
    func splitAcrossReads(readSize: Int) {
        let outcome = ParserDriver().run(wire(Self.head + "0123456789"), readSize: readSize)
        #expect(outcome.error == nil)
        #expect(outcome.coalesced.events == [Self.request, .text("0123456789"), .end])
        let slices = outcome.events.filter { if case .body = $0 { true } else { false } }
        #expect(slices.count >= 10 / readSize)
        #expect(outcome.events.last == .end)
    }

    @Test("no .end comes before the last body byte")
    func endOnlyAfterLastByte() throws {
        var parser = HTTP1Parser(role: .server)
        var buffer = ByteBuffer(string: Self.head)
        #expect(try parser.next(&buffer).map(Parsed.init) == Self.request)
        for byte in wire("012345678") {
            buffer.writeInteger(byte)
            #expect(try parser.next(&buffer).map(Parsed.init) == .body([byte]))
            #expect(try parser.next(&buffer) == nil)
        }
        buffer.writeString("9")
        #expect(try parser.next(&buffer).map(Parsed.init) == .text("9"))
        #expect(try parser.next(&buffer).map(Parsed.init) == .end)
        #expect(parser.isIdle)
    }

    @Test("bytes after the message stay in the buffer for the next request")
    func bytesAfterMessageStay() throws {
        var parser = HTTP1Parser(role: .server)
        var buffer = ByteBuffer(string: Self.head + "abc")
        #expect(try parser.next(&buffer).map(Parsed.init) == Self.request)
        #expect(try parser.next(&buffer).map(Parsed.init) == .text("abc"))
        #expect(try parser.next(&buffer) == nil)
        buffer.writeString("defghijGET /next HT")
        #expect(try parser.next(&buffer).map(Parsed.init) == .text("defghij"))
        #expect(try parser.next(&buffer).map(Parsed.init) == .end)
        #expect(String(buffer: buffer) == "GET /next HT")
        #expect(try parser.next(&buffer) == nil)
        #expect(String(buffer: buffer) == "GET /next HT")
        buffer.writeString("TP/1.1\r\nHost: b\r\n\r\n")
        #expect(
            try parser.next(&buffer).map(Parsed.init) == .request(.init(method: "GET", path: "/next", authority: "b")))
    }

    @Test("Content-Length: 0 ends the message right after the head")
    func zeroLength() {
        let outcome = ParserDriver().run(
            wire("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(
            outcome.events == [
                .request(.init(method: "PUT", path: "/", authority: "a", headers: ["content-length: 0"])), .end,
                .request(.init(method: "GET", path: "/", authority: "a")), .end,
            ])
    }

    @Test("a request without framing fields has no body, even if bytes follow")
    func noFramingNoBody() {
        let outcome = ParserDriver().run(wire("POST / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(
            outcome.events == [
                .request(.init(method: "POST", path: "/", authority: "a")), .end,
                .request(.init(method: "GET", path: "/x", authority: "a")), .end,
            ])
    }

    @Test("an 18-digit length is accepted and the body streams")
    func hugeLength() {
        let outcome = ParserDriver().run(
            wire("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\nxyz"))
        #expect(outcome.error == nil)
        #expect(Array(outcome.events.dropFirst()) == [.text("xyz")])
    }

    @Test("a request cut off in its body is a truncated message at end of input")
    func truncatedRequest() {
        let outcome = ParserDriver().run(wire(Self.head + "01234"), endOfInput: true)
        #expect(outcome.events == [Self.request, .text("01234")])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.truncated_message"))
    }
}
