import Testing

@testable import FerryProxy

@Suite("HTTP/1 chunked bodies")
struct ChunkedBodyTests {
    let server = ParserDriver()
    static let head = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    static let request = Parsed.request(
        .init(method: "POST", path: "/c", authority: "a", headers: ["transfer-encoding: chunked"]))

    func chunked(_ body: String) -> ParseOutcome { server.run(wire(Self.head + body)) }

    @Test("chunk sizes are hex in upper or lower case, with leading zeros")
    func hexSizes() {
        let outcome = chunked(
            "5\r\nhello\r\nA\r\n0123456789\r\na\r\nabcdefghij\r\n00010\r\n0123456789abcdef\r\n0\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                Self.request, .text("hello"), .text("0123456789"), .text("abcdefghij"), .text("0123456789abcdef"), .end,
            ])
        #expect(outcome.leftover == [])
    }

    @Test(
        "chunk extensions are accepted and ignored",
        arguments: [
            "5;name", "5;name=value", "5;name=\"quoted ; \\\" value\"", "5 ; name = value", "5\t;\tname\t=\t\"v\"",
            "5;a=1;b;c=\"x\"", "5;a=\"\"", "5;n=\"é\"",
        ])
    func extensions(line: String) {
        let outcome = chunked("\(line)\r\nhello\r\n0;last=1\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events == [Self.request, .text("hello"), .end])
    }

    @Test(
        "malformed chunk extensions are 400",
        arguments: ["5;", "5;=v", "5;name=", "5 x", "5;na(me", "5;name=\"a\u{7F}\"", "5 \r", "5;n=v w"])
    func badExtensions(line: String) {
        let outcome = chunked("\(line)\r\nhello\r\n0\r\n\r\n")
        #expect(outcome.events == [Self.request])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_extension"))
    }

    @Test("a quoted-pair in an extension escapes only visible characters, not line endings")
    func quotedPairLineEnding() {
        for escaped in ["\n", "\r", "\u{0}"] {
            let outcome = chunked("5;a=\"\\\(escaped)\"\r\nhello\r\n0\r\n\r\n")
            #expect(
                outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_extension"),
                "escaped \(escaped.debugDescription)")
            #expect(outcome.events == [Self.request])
        }
    }

    @Test("a chunk size that is not hex, or missing, is 400", arguments: ["xyz", "-5", "", " 5", ";ext", "+1"])
    func badSize(line: String) {
        let outcome = chunked("\(line)\r\nhello\r\n0\r\n\r\n")
        #expect(outcome.events == [Self.request])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_size"))
    }

    @Test("a 0x prefix is not hex: the x starts a malformed extension")
    func hexPrefix() {
        #expect(
            chunked("0x5\r\nhello\r\n0\r\n\r\n").error == HTTP1ParseError(status: 400, "http1.invalid_chunk_extension"))
    }

    @Test(
        "data not followed by CRLF is 400, and nothing after it is parsed",
        arguments: [
            "5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "5\r\nhello\r0\r\n\r\n", "3\r\nhello\r\n0\r\n\r\n",
        ])
    func missingCRLFAfterData(body: String) {
        let outcome = chunked(body + RequestSmugglingTests.smuggled)
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_terminator"))
        #expect(outcome.events.first == Self.request)
        #expect(outcome.events.dropFirst().allSatisfy { if case .body = $0 { true } else { false } })
    }

    @Test(
        "a bare LF or a lone CR ends no chunk line",
        arguments: [
            "5\nhello\r\n0\r\n\r\n", "5;a=b\nhello\r\n0\r\n\r\n", "5\r\rhello",
            "5;a\rhello\r\n",
        ])
    func bareLineFeedInChunkLine(body: String) {
        let outcome = chunked(body)
        #expect(outcome.events == [Self.request])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_size"))
    }

    @Test(
        "a chunk size of 16 or more hex digits is 400; 15 digits are accepted",
        arguments: [
            String(repeating: "f", count: 16), "1" + String(repeating: "0", count: 16),
            String(repeating: "0", count: 20) + "5",
        ])
    func sizeOverflow(size: String) {
        let outcome = chunked("\(size)\r\nhello")
        #expect(outcome.events == [Self.request])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_size"))
    }

    @Test("15 hex digits are a valid (huge) chunk whose data then streams")
    func fifteenDigits() {
        let outcome = chunked(String(repeating: "f", count: 15) + "\r\nhello")
        #expect(outcome.error == nil)
        #expect(outcome.events == [Self.request, .text("hello")])
    }

    @Test("a chunk line longer than 4 KiB is 400 even before its line ending arrives")
    func longChunkLineWhileIncomplete() {
        let outcome = chunked("5;" + String(repeating: "n", count: 5000))
        #expect(outcome.error?.status == 400)
    }

    @Test("a complete chunk line longer than 4 KiB is 400")
    func longChunkLine() {
        let outcome = chunked("5;" + String(repeating: "n", count: 5000) + "\r\nhello\r\n0\r\n\r\n")
        #expect(outcome.events == [Self.request])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.invalid_chunk_extension"))
    }

    @Test("a zero-size last chunk alone is an empty body")
    func emptyBody() {
        #expect(chunked("0\r\n\r\n").events == [Self.request, .end])
        #expect(chunked("000;ext=1\r\n\r\n").events == [Self.request, .end])
    }

    @Test("trailer fields after the last chunk come with .end, lower-cased and trimmed")
    func trailers() {
        let outcome = chunked("3\r\nabc\r\n0\r\nX-Checksum:  abc \r\nOther-Trailer: 1\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [Self.request, .text("abc"), .end(trailers: ["x-checksum: abc", "other-trailer: 1"])])
        #expect(outcome.leftover == [])
    }

    @Test("trailer fields follow the header field rules")
    func badTrailers() {
        #expect(
            chunked("0\r\nX-A: 1\r\n folded\r\n\r\n").error
                == HTTP1ParseError(status: 400, "http1.obsolete_line_folding"))
        #expect(chunked("0\r\nX-A : 1\r\n\r\n").error == HTTP1ParseError(status: 400, "http1.whitespace_before_colon"))
        #expect(chunked("0\r\nX-A: a\u{0}b\r\n\r\n").error == HTTP1ParseError(status: 400, "http1.invalid_characters"))
        #expect(chunked("0\r\n\n").error == HTTP1ParseError(status: 400, "http1.invalid_chunk_terminator"))
    }

    @Test("a pipelined request after a chunked body is parsed as the next request")
    func pipelinedAfterChunked() {
        let outcome = chunked("3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                Self.request, .text("abc"), .end, .request(.init(method: "GET", path: "/next", authority: "b")), .end,
            ])
    }

    @Test("a body that says it is done stops there: a 0 chunk inside data is data")
    func zeroInsideData() {
        let outcome = chunked("5\r\n0\r\n\r\n\r\n0\r\n\r\n")
        #expect(outcome.events == [Self.request, .text("0\r\n\r\n"), .end])
    }

    static let messages: [String] = [
        head + "5\r\nhello\r\n0\r\n\r\n",
        head + "1;a=b\r\nx\r\nF ; q=\"v;\\\"w\"\r\n0123456789abcde\r\n0\r\nT-1: a\r\nT-2:b\r\n\r\n",
        head + "3\r\nabc\r\n0\r\n\r\n" + head + "2\r\nde\r\n0\r\n\r\n",
        "PUT /x HTTP/1.1\nHost: a\ntransfer-encoding: chunked\n\n2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        head + "10\r\n" + String(repeating: "z", count: 16) + "\r\n0\r\n\r\n",
        head + "5\r\nhelloX\r\n",
        head + "5\nhello",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody" + head + "0\r\n\r\n",
    ]

    @Test("feeding a message one byte at a time gives the same events as feeding it at once", arguments: messages)
    func byteAtATime(message: String) {
        let whole = server.run(wire(message))
        let trickled = server.run(wire(message), readSize: 1)
        #expect(trickled.coalesced == whole.coalesced)
        #expect(!trickled.looped && !whole.looped)
        for readSize in [2, 3, 7] {
            #expect(server.run(wire(message), readSize: readSize).coalesced == whole.coalesced, "read size \(readSize)")
        }
    }
}
