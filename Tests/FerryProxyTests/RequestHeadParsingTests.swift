import Testing

@testable import FerryProxy

@Suite("HTTP/1 request heads")
struct RequestHeadParsingTests {
    let server = ParserDriver()

    @Test("an origin-form request line gives method, path with query, and Host as authority")
    func originForm() {
        let outcome = server.run(wire("GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .request(.init(method: "GET", path: "/a/b?x=1&y", authority: "example.com", headers: ["accept: */*"])),
                .end,
            ])
        #expect(outcome.leftover == [])
    }

    @Test(
        "absolute-form: the URI's authority wins over Host, and scheme and path come from the URI",
        arguments: [
            ("GET http://Origin.example:8080/p?q=1 HTTP/1.1", "Origin.example:8080", "http", "/p?q=1"),
            ("GET HTTPS://secure.example HTTP/1.1", "secure.example", "https", "/"),
            ("GET http://a.example?x=1 HTTP/1.1", "a.example", "http", "/?x=1"),
            ("GET http://[::1]:80/v6 HTTP/1.1", "[::1]:80", "http", "/v6"),
        ])
    func absoluteForm(line: String, authority: String, scheme: String, path: String) {
        let outcome = server.run(wire("\(line)\r\nHost: other.example\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .request(.init(method: "GET", path: path, authority: authority, scheme: scheme)), .end,
            ])
    }

    @Test(
        "absolute-form with another scheme, userinfo or an empty authority is a bad URI",
        arguments: ["GET ftp://a.example/ HTTP/1.1", "GET http://user@a.example/ HTTP/1.1", "GET http:///x HTTP/1.1"])
    func badAbsoluteForm(line: String) {
        expectRejectedHead(wire("\(line)\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_url")
    }

    @Test("OPTIONS * is accepted with path *, and * with any other method is a bad URI")
    func asteriskForm() {
        let outcome = server.run(wire("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(outcome.events == [.request(.init(method: "OPTIONS", path: "*", authority: "a")), .end])
        expectRejectedHead(wire("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_url")
    }

    @Test("CONNECT authority-form becomes the authority with an empty path")
    func connectForm() {
        let outcome = server.run(wire("CONNECT upstream.example:443 HTTP/1.1\r\nHost: upstream.example:443\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .request(.init(method: "CONNECT", path: "", authority: "upstream.example:443")), .end,
            ])
    }

    @Test("a CONNECT target that is not host:port is a bad URI")
    func connectTargetValidated() {
        expectRejectedHead(wire("CONNECT a/b#c HTTP/1.1\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_url")
    }

    @Test("HTTP/1.0 and HTTP/1.1 are both accepted and reported")
    func versions() {
        let ten = server.run(wire("GET / HTTP/1.0\r\n\r\n"))
        #expect(ten.events == [.request(.init(method: "GET", path: "/", authority: nil, version: .http10)), .end])
        let eleven = server.run(wire("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(eleven.events == [.request(.init(method: "GET", path: "/", authority: "a", version: .http11)), .end])
    }

    @Test(
        "a well-formed version outside HTTP/1 is 505",
        arguments: ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0"])
    func unsupportedVersion(version: String) {
        expectRejectedHead(
            wire("GET / \(version)\r\nHost: a\r\n\r\n"), status: 505, detail: "http1.version_not_supported")
    }

    @Test("a higher HTTP/1 minor version is read as HTTP/1.1 (RFC 9110 §2.5)", arguments: ["HTTP/1.2", "HTTP/1.9"])
    func higherMinorVersion(version: String) {
        let outcome = server.run(wire("GET / \(version)\r\nHost: a\r\n\r\n"))
        #expect(outcome.events == [.request(.init(method: "GET", path: "/", authority: "a", version: .http11)), .end])
    }

    @Test(
        "a malformed version is 400",
        arguments: ["http/1.1", "HTTX/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/1.x", "HTTP/1.1x"])
    func malformedVersion(version: String) {
        expectRejectedHead(wire("GET / \(version)\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_version")
    }

    @Test(
        "a method that is not a token, or a missing method, is 400",
        arguments: ["G(T / HTTP/1.1", " / HTTP/1.1", "GET\t/ HTTP/1.1", "G\u{7F}T / HTTP/1.1", "GET"])
    func badMethod(line: String) {
        expectRejectedHead(wire("\(line)\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_method")
    }

    @Test(
        "a request-target with a control byte, DEL, a second space or no slash is 400",
        arguments: [
            "GET /a\u{7F}b HTTP/1.1", "GET /a\u{01}b HTTP/1.1", "GET  / HTTP/1.1", "GET relative HTTP/1.1", "GET /",
        ])
    func badTarget(line: String) {
        expectRejectedHead(wire("\(line)\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_url")
    }

    @Test("a request line with a fourth part is a bad version")
    func extraRequestLinePart() {
        expectRejectedHead(wire("GET / x HTTP/1.1\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_version")
    }

    @Test("empty lines before the request line are skipped, with CRLF or bare LF")
    func leadingEmptyLines() {
        let outcome = server.run(wire("\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(outcome.events == [.request(.init(method: "GET", path: "/", authority: "a")), .end])
    }

    @Test("a bare CR before the request line is 400")
    func bareCRBeforeRequestLine() {
        expectRejectedHead(
            wire("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.invalid_line_ending")
    }

    @Test("bare LF line endings are accepted in the head, also mixed with CRLF")
    func bareLineFeeds() {
        let expected: [Parsed] = [
            .request(.init(method: "GET", path: "/", authority: "a", headers: ["x-one: 1", "x-two: 2"])), .end,
        ]
        #expect(server.run(wire("GET / HTTP/1.1\nHost: a\nX-One: 1\nX-Two: 2\n\n")).events == expected)
        #expect(server.run(wire("GET / HTTP/1.1\r\nHost: a\nX-One: 1\r\nX-Two: 2\n\r\n")).events == expected)
        #expect(server.run(wire("GET / HTTP/1.1\nHost: a\nX-One: 1\nX-Two: 2\n\n"), readSize: 1).events == expected)
    }

    @Test(
        "a CR inside a line (not before its LF) is 400",
        arguments: [
            "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\rHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nX: v\r\r\n\r\n",
        ])
    func carriageReturnInsideALine(message: String) {
        expectRejectedHead(wire(message), status: 400, detail: "http1.invalid_characters")
    }

    @Test("header names are lower-cased; values lose surrounding spaces and tabs but keep inner ones")
    func headerNamesAndValues() {
        let outcome = server.run(
            wire(
                "GET / HTTP/1.1\r\nHOST: a\r\nContent-TYPE:text/plain\r\nX-Pad: \t  a  b \t\r\n"
                    + "X-Empty:\r\nX-Spaces:   \r\n\r\n"
            ))
        #expect(
            outcome.events == [
                .request(
                    .init(
                        method: "GET", path: "/", authority: "a",
                        headers: ["content-type: text/plain", "x-pad: a  b", "x-empty: ", "x-spaces: "])),
                .end,
            ])
    }

    @Test("repeated header fields stay separate and in order")
    func repeatedFields() {
        let outcome = server.run(wire("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\nx-a: 3\r\n\r\n"))
        #expect(
            outcome.events == [
                .request(.init(method: "GET", path: "/", authority: "a", headers: ["x-a: 1", "x-b: 2", "x-a: 3"])),
                .end,
            ])
    }

    @Test("a UTF-8 field value is kept as sent")
    func utf8Value() {
        let outcome = server.run(wire("GET / HTTP/1.1\r\nHost: a\r\nX-Name: Zoë ✓\r\n\r\n"))
        #expect(
            outcome.events == [
                .request(.init(method: "GET", path: "/", authority: "a", headers: ["x-name: Zoë ✓"])), .end,
            ])
    }

    @Test("a fragment in the target stays in the path, for the connection manager to refuse (as Envoy)")
    func fragmentKept() {
        let outcome = server.run(wire("GET /a?b=1#frag HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(outcome.events == [.request(.init(method: "GET", path: "/a?b=1#frag", authority: "a")), .end])
    }

    @Test("two Host fields are 400, even with the same value")
    func multipleHost() {
        expectRejectedHead(
            wire("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), status: 400, detail: "http1.multiple_host_headers")
        expectRejectedHead(
            wire("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), status: 400, detail: "http1.multiple_host_headers")
    }

    @Test(
        "a Host value that cannot be an authority is 400",
        arguments: ["a b", "a/b", "a?b", "a#b", "a\\b", "\"a\"", "", "é.example"])
    func invalidHost(host: String) {
        expectRejectedHead(wire("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n"), status: 400, detail: "http1.invalid_host")
    }

    @Test("a missing Host is not a parser error: the head arrives without authority")
    func missingHost() {
        let outcome = server.run(wire("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"))
        #expect(outcome.error == nil)
        #expect(
            outcome.events == [
                .request(.init(method: "GET", path: "/", authority: nil, headers: ["accept: */*"])), .end,
            ])
    }

    @Test("a head split across reads at every position parses the same as in one read")
    func headSplitAnywhere() {
        let message = wire("POST /upload?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-A:  v \r\n\r\nabc")
        let whole = server.run(message)
        #expect(whole.error == nil)
        for split in 1..<message.count {
            let outcome = server.run(reads: [Array(message[..<split]), Array(message[split...])])
            #expect(outcome.coalesced == whole.coalesced, "split at \(split)")
        }
    }
}
