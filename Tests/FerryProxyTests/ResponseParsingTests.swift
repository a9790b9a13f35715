import Testing

@testable import FerryProxy

@Suite("HTTP/1 responses (client role)")
struct ResponseParsingTests {
    let client = ParserDriver(role: .client)

    @Test("a status line with a reason phrase, spaces included")
    func statusWithReason() {
        let outcome = client.run(wire("HTTP/1.1 404 Not Found Here\r\nContent-Length: 2\r\n\r\nno"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .response(.init(status: 404, reason: "Not Found Here", headers: ["content-length: 2"])), .text("no"),
                .end,
            ])
    }

    @Test("a status line without a reason phrase has none; with only the space it is empty")
    func statusWithoutReason() {
        #expect(client.run(wire("HTTP/1.1 204\r\n\r\n")).events == [.response(.init(status: 204, reason: nil)), .end])
        #expect(
            client.run(wire("HTTP/1.0 204 \r\n\r\n")).events == [
                .response(.init(status: 204, reason: "", version: .http10)), .end,
            ])
    }

    @Test(
        "malformed status lines are 400",
        arguments: [
            ("HTTP/1.1 20 OK", "http1.invalid_status"), ("HTTP/1.1 600 Big", "http1.invalid_status"),
            ("HTTP/1.1 099 Low", "http1.invalid_status"), ("HTTP/1.1 2x0 OK", "http1.invalid_status"),
            ("HTTP/1.1 200OK", "http1.invalid_status_line"), ("HTTP/1.1", "http1.invalid_status_line"),
            ("HTTP/1.1  200 OK", "http1.invalid_status"), ("HTTX/1.1 200 OK", "http1.invalid_version"),
            ("HTTP/1.1 200 O\u{01}K", "http1.invalid_characters"),
        ])
    func malformedStatusLine(line: String, detail: String) {
        let outcome = client.run(wire("\(line)\r\nContent-Length: 0\r\n\r\n"))
        #expect(outcome.events == [])
        #expect(outcome.error == HTTP1ParseError(status: 400, detail))
    }

    @Test("an HTTP/2.0 status line is 505")
    func http2StatusLine() {
        #expect(
            client.run(wire("HTTP/2.0 200 OK\r\n\r\n")).error
                == HTTP1ParseError(status: 505, "http1.version_not_supported"))
    }

    @Test("interim 1xx responses are heads without a body or an end; the final response follows")
    func interimThenFinal() {
        let outcome = client.run(
            wire(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                    + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .response(.init(status: 100, reason: "Continue")),
                .response(.init(status: 103, reason: "Early Hints", headers: ["link: </a.css>"])),
                .response(.init(status: 200, reason: "OK", headers: ["content-length: 1"])), .text("x"), .end,
            ])
    }

    @Test("204 and 304 have no body even with a Content-Length", arguments: [204, 304])
    func noBodyStatuses(status: Int) {
        let outcome = client.run(
            wire("HTTP/1.1 \(status) X\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .response(.init(status: status, reason: "X", headers: ["content-length: 5"])), .end,
                .response(.init(status: 200, reason: "OK", headers: ["content-length: 0"])), .end,
            ])
    }

    @Test(
        "a response to HEAD has no body, whatever its framing fields say",
        arguments: ["Content-Length: 100", "Transfer-Encoding: chunked", "Connection: close"])
    func headResponse(framing: String) {
        var head = ParserDriver(role: .client)
        head.requestMethod = "HEAD"
        let outcome = head.run(wire("HTTP/1.1 200 OK\r\n\(framing)\r\n\r\n"), endOfInput: true)
        #expect(outcome.error == nil)
        #expect(outcome.events.count == 2)
        #expect(outcome.events.last == .end)
        #expect(outcome.leftover == [])
    }

    @Test("101 switches to a tunnel: every later byte is opaque payload until the connection closes")
    func switchingProtocols() {
        let frames: [UInt8] = [0x81, 0x05] + wire("hello") + wire("HTTP/1.1 200 OK\r\n\r\n")
        let message =
            wire("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n") + frames
        let outcome = client.run(message, readSize: 16, endOfInput: true)
        #expect(outcome.error == nil)
        #expect(
            outcome.coalesced.events == [
                .response(
                    .init(
                        status: 101, reason: "Switching Protocols",
                        headers: ["upgrade: websocket", "connection: Upgrade"])),
                .body(frames), .end,
            ])
    }

    @Test("without length or chunked, the body runs until the connection closes")
    func closeDelimited() {
        let outcome = client.run(
            wire("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc\r\n\r\ndef"), readSize: 4, endOfInput: true)
        #expect(outcome.error == nil)
        #expect(
            outcome.coalesced.events == [
                .response(.init(status: 200, reason: "OK", headers: ["content-type: text/plain"])),
                .text("abc\r\n\r\ndef"), .end,
            ])
    }

    @Test("a response whose last coding is not chunked is close-delimited")
    func nonChunkedCodingIsCloseDelimited() {
        let outcome = client.run(wire("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"), endOfInput: true)
        #expect(outcome.error == nil)
        #expect(Array(outcome.events.dropFirst()) == [.text("0\r\n\r\n"), .end])
    }

    @Test("a chunked response with trailers")
    func chunkedResponse() {
        let outcome = client.run(
            wire("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\ngrpc-status: 0\r\n\r\n"))
        #expect(Array(outcome.events.dropFirst()) == [.text("wiki"), .end(trailers: ["grpc-status: 0"])])
    }

    @Test("a Content-Length body cut short by the connection closing is an error", arguments: [1, 100])
    func truncatedLengthBody(readSize: Int) {
        let outcome = client.run(
            wire("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), readSize: readSize, endOfInput: true)
        #expect(
            outcome.coalesced.events == [
                .response(.init(status: 200, reason: "OK", headers: ["content-length: 10"])), .text("abc"),
            ])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.truncated_message"))
    }

    @Test("a chunked body cut short by the connection closing is an error")
    func truncatedChunkedBody() {
        let outcome = client.run(
            wire("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), endOfInput: true)
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.truncated_message"))
    }

    @Test("closing between responses is not an error and yields no event")
    func closeWhenIdle() {
        let outcome = client.run(wire("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), endOfInput: true)
        #expect(outcome.error == nil)
        #expect(outcome.events == [.response(.init(status: 200, reason: "OK", headers: ["content-length: 0"])), .end])
    }

    @Test("Content-Length with Transfer-Encoding in a response is an error")
    func contentLengthAndChunked() {
        let outcome = client.run(
            wire("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
        #expect(outcome.events == [])
        #expect(outcome.error == HTTP1ParseError(status: 400, "http1.content_length_and_chunked_not_allowed"))
    }

    @Test("differing or malformed Content-Length in a response is an error")
    func badResponseLengths() {
        let differing = client.run(wire("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"))
        #expect(differing.error == HTTP1ParseError(status: 400, "http1.multiple_content_length"))
        let malformed = client.run(wire("HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc"))
        #expect(malformed.error == HTTP1ParseError(status: 400, "http1.invalid_content_length"))
    }
}
