import Testing

@testable import FerryProxy

/// RFC 9112 framing and field rules the parser enforces so that Ferry and its upstream never
/// disagree on where a request ends. Each refused message carries a smuggled second request
/// after the head; nothing of it may come out of the parser.
@Suite("HTTP/1 request smuggling rules")
struct RequestSmugglingTests {
    let server = ParserDriver()
    static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

    func post(_ fields: String, body: String = "0\r\n\r\n") -> [UInt8] {
        wire("POST / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n\(body)\(Self.smuggled)")
    }

    @Test("Content-Length together with Transfer-Encoding is 400, in either order")
    func contentLengthAndTransferEncoding() {
        let detail = "http1.content_length_and_chunked_not_allowed"
        expectRejectedHead(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), status: 400, detail: detail)
        expectRejectedHead(post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), status: 400, detail: detail)
        expectRejectedHead(post("Transfer-Encoding: identity\r\nContent-Length: 0\r\n"), status: 400, detail: detail)
    }

    @Test(
        "Content-Length values that differ are 400, as separate fields or as a list",
        arguments: [
            "Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: 5, 6\r\n", "Content-Length: 1,1,2\r\n",
        ])
    func differingContentLengths(fields: String) {
        expectRejectedHead(post(fields), status: 400, detail: "http1.multiple_content_length")
    }

    @Test(
        "identical Content-Length values collapse into one length, as fields or as a list (RFC 9110 §8.6)",
        arguments: [
            "Content-Length: 3\r\nContent-Length: 3\r\n", "Content-Length: 3,3\r\n", "Content-Length: 3 , 3\r\n",
        ])
    func identicalContentLengths(fields: String) {
        let outcome = server.run(post(fields, body: "abc"))
        #expect(outcome.error == nil)
        #expect(outcome.events.count == 5)
        #expect(
            Array(outcome.events.dropFirst()) == [
                .text("abc"), .end, .request(.init(method: "GET", path: "/smuggled", authority: "a")), .end,
            ])
    }

    @Test("Content-Length: 1,1 frames exactly one body byte; the next bytes are the next request")
    func contentLengthListOfOnes() {
        let outcome = server.run(wire("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\nx\(Self.smuggled)"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .request(.init(method: "POST", path: "/", authority: "a", headers: ["content-length: 1"])),
                .text("x"), .end,
                .request(.init(method: "GET", path: "/smuggled", authority: "a")), .end,
            ])
    }

    @Test("a collapsed Content-Length list reaches the upstream as one value")
    func collapsedLengthIsReplaced() {
        let outcome = server.run(
            wire("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\nContent-Length: 1\r\n\r\nx"))
        #expect(
            outcome.events.first
                == .request(.init(method: "POST", path: "/", authority: "a", headers: ["content-length: 1"])))
    }

    @Test(
        "a Content-Length that is not plain digits is 400",
        arguments: ["abc", "-1", "+5", "0x10", "1 2", "", "5,", ",5", "1.0", "99999999999999999999", "１"])
    func nonDigitContentLength(value: String) {
        expectRejectedHead(post("Content-Length: \(value)\r\n"), status: 400, detail: "http1.invalid_content_length")
    }

    @Test(
        "Transfer-Encoding whose last coding is not chunked is 400",
        arguments: ["gzip", "chunked, gzip", "identity", "chunked;q=1", "chunked,", ", chunked", "chunkedx"])
    func nonFinalChunked(value: String) {
        expectRejectedHead(
            post("Transfer-Encoding: \(value)\r\n"), status: 400, detail: "http1.invalid_transfer_encoding")
    }

    @Test("chunked twice is 400, in one field or in two")
    func chunkedTwice() {
        let detail = "http1.invalid_transfer_encoding"
        expectRejectedHead(post("Transfer-Encoding: chunked, chunked\r\n"), status: 400, detail: detail)
        expectRejectedHead(
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), status: 400, detail: detail)
    }

    @Test(
        "another coding before a final chunked is 501",
        arguments: ["gzip, chunked", "gzip\r\nTransfer-Encoding: chunked"])
    func codingBeforeChunked(value: String) {
        expectRejectedHead(
            post("Transfer-Encoding: \(value)\r\n"), status: 501, detail: "http1.transfer_coding_not_implemented")
    }

    @Test("Transfer-Encoding: chunked is matched case-insensitively and frames the body")
    func chunkedCaseInsensitive() {
        let outcome = server.run(post("Transfer-Encoding: ChUnKeD\r\n", body: "1\r\nz\r\n0\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(
            Array(outcome.events.dropFirst()) == [
                .text("z"), .end, .request(.init(method: "GET", path: "/smuggled", authority: "a")), .end,
            ])
    }

    @Test("Transfer-Encoding in an HTTP/1.0 request is 400")
    func transferEncodingInHTTP10() {
        expectRejectedHead(
            wire("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\(Self.smuggled)"), status: 400,
            detail: "http1.transfer_encoding_not_allowed_in_http10")
    }

    @Test(
        "obsolete line folding (a field line starting with space or tab) is 400",
        arguments: ["X-A: one\r\n two\r\n", "X-A: one\r\n\ttwo\r\n", " X-A: first\r\n"])
    func obsoleteLineFolding(fields: String) {
        expectRejectedHead(post(fields), status: 400, detail: "http1.obsolete_line_folding")
    }

    @Test(
        "whitespace between a field name and its colon is 400",
        arguments: ["Content-Length : 0\r\n", "Transfer-Encoding\t: chunked\r\n", "X-A : 1\r\n"])
    func whitespaceBeforeColon(fields: String) {
        expectRejectedHead(post(fields), status: 400, detail: "http1.whitespace_before_colon")
    }

    @Test("a field name with a non-token byte, or none at all, is 400")
    func badFieldNames() {
        expectRejectedHead(post("X(A): 1\r\n"), status: 400, detail: "http1.invalid_header_name")
        expectRejectedHead(post("NoColon\r\n"), status: 400, detail: "http1.invalid_header_name")
        expectRejectedHead(post(": value\r\n"), status: 400, detail: "http1.empty_header_name")
    }

    @Test(
        "NUL, CR, DEL and other control bytes in a field value are 400",
        arguments: [0x00, 0x0D, 0x7F, 0x01, 0x1B, 0x08] as [UInt8])
    func controlBytesInValue(byte: UInt8) {
        let message = wire("GET / HTTP/1.1\r\nHost: a\r\nX-A: a") + [byte] + wire("b\r\n\r\n\(Self.smuggled)")
        expectRejectedHead(message, status: 400, detail: "http1.invalid_characters")
    }

    @Test("a bare LF inside a value ends the line, and the rest is not a valid field line")
    func lineFeedInValue() {
        expectRejectedHead(
            wire("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\nb\r\n\r\n"), status: 400, detail: "http1.invalid_header_name")
    }

    @Test(
        "a field value that is obs-text but not UTF-8 is 400",
        arguments: [[0xFF], [0xC3], [0xE2, 0x82], [0x80, 0x41]] as [[UInt8]])
    func nonUTF8ObsText(bytes: [UInt8]) {
        let message = wire("GET / HTTP/1.1\r\nHost: a\r\nX-A: ") + bytes + wire("\r\n\r\n\(Self.smuggled)")
        expectRejectedHead(message, status: 400, detail: "http1.invalid_header_value_encoding")
    }

    @Test("a tab inside a value is allowed")
    func tabInValue() {
        let outcome = server.run(wire("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\n\r\n"))
        #expect(
            outcome.events == [.request(.init(method: "GET", path: "/", authority: "a", headers: ["x-a: a\tb"])), .end])
    }
}
