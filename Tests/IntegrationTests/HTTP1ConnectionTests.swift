import FerryTestKit
import Testing

/// HTTP/1 connection behaviour: keep-alive both ways, pipelining, HTTP/1.0, HEAD,
/// Expect: 100-continue.
@Suite("HTTP/1 connections")
struct HTTP1ConnectionTests {
    static func run(hcmExtra: String = "", _ body: (ProxyHarness) async throws -> Void) async throws {
        try await Support.withEchoBackend(hcmExtra: hcmExtra, body)
    }

    @Test("20 sequential requests on one client connection reuse one upstream connection")
    func keepAliveReuse() async throws {
        try await Self.run { proxy in
            let replies = try await Support.sequential(proxy.url("/"), count: 20, header: "x-echo-name")
            #expect(replies.map(\.status) == Array(repeating: 200, count: 20))
            #expect(try await proxy.stat("http.ingress_http.downstream_cx_total") == 1)
            #expect(try await proxy.stat("http.ingress_http.downstream_rq_total") == 20)
            #expect(try await proxy.stat("cluster.backend.upstream_cx_total") == 1)
            #expect(try await proxy.stat("cluster.backend.upstream_rq_total") == 20)
        }
    }

    @Test("three pipelined requests in one write get three responses in order on the same connection")
    func pipelining() async throws {
        try await Self.run { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                let request = (201...203).map { "GET /status/\($0) HTTP/1.1\r\nHost: a\r\n\r\n" }.joined()
                try await connection.send(request)
                let responses = await connection.responses(3)
                #expect(responses.map(\.status) == [201, 202, 203])
                let paths = try responses.map { try EchoReply($0.bodyText).path }
                #expect(paths == ["/status/201", "/status/202", "/status/203"])
                #expect(!connection.isClosed)
            }
        }
    }

    @Test("a client's Connection: close gets connection: close and the proxy closes after the response")
    func clientConnectionClose() async throws {
        try await Self.run { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                #expect(await connection.waitForClose(timeout: .seconds(3)))
                let response = WireResponse.parseAll(connection.received, closed: true).first
                #expect(response?.status == 200)
                #expect(response?.header("connection") == "close")
            }
        }
    }

    @Test("HTTP/1.0 is refused with 426 'Upgrade Required' and a close by default")
    func http10Refused() async throws {
        try await Self.run { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n")
                #expect(await connection.waitForClose())
                let response = try #require(WireResponse.parseAll(connection.received, closed: true).first)
                #expect(response.status == 426)
                #expect(response.bodyText == "Upgrade Required")
                #expect(response.header("content-type") == "text/plain")
                #expect(response.header("connection") == "close")
            }
        }
    }

    @Test(
        "with accept_http_10, HTTP/1.0 gets a content-length response, or a close-delimited one for a chunked upstream")
    func http10Accepted() async throws {
        try await Self.run(hcmExtra: "http_protocol_options: {accept_http_10: true}") { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /plain HTTP/1.0\r\nHost: a\r\n\r\n")
                #expect(await connection.waitForClose())
                let response = try #require(WireResponse.parseAll(connection.received, closed: true).first)
                #expect(response.status == 200)
                #expect(response.framing == .contentLength)
                #expect(response.header("connection") == "close")
                let echo = try EchoReply(response.bodyText)
                #expect(echo.path == "/plain")
                // The upstream request is HTTP/1.1.
                #expect(echo.version == "HTTP/1.1")
            }
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /stream/3 HTTP/1.0\r\nHost: a\r\n\r\n")
                #expect(await connection.waitForClose())
                let response = try #require(WireResponse.parseAll(connection.received, closed: true).first)
                #expect(response.status == 200)
                #expect(response.framing == .close)
                #expect(response.header("transfer-encoding") == nil)
                #expect(response.bodyText.split(separator: "\n").count == 3)
            }
        }
    }

    @Test("an HTTP/1.0 keep-alive request keeps the connection open (connection: keep-alive)")
    func http10KeepAlive() async throws {
        try await Self.run(hcmExtra: "http_protocol_options: {accept_http_10: true}") { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /a HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
                let first = await connection.responses(1)
                #expect(first.first?.status == 200)
                #expect(first.first?.header("connection") == "keep-alive")
                try await connection.send("GET /b HTTP/1.0\r\nHost: a\r\n\r\n")
                #expect(await connection.waitForClose())
                let both = WireResponse.parseAll(connection.received, closed: true)
                #expect(both.count == 2)
                #expect(try both.map { try EchoReply($0.bodyText).path } == ["/a", "/b"])
            }
        }
    }

    @Test("Envoy answers HTTP/1.0 requests with an HTTP/1.0 status line")
    func http10StatusLine() async throws {
        try await Self.run(hcmExtra: "http_protocol_options: {accept_http_10: true}") { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n")
                #expect(await connection.waitForClose())
                #expect(connection.text.hasPrefix("HTTP/1.0 200 OK\r\n"))
            }
        }
    }

    @Test("an HTTP/1.0 request without Host is refused with 400, as Envoy does")
    func http10WithoutHost() async throws {
        try await Self.run(hcmExtra: "http_protocol_options: {accept_http_10: true}") { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET / HTTP/1.0\r\n\r\n")
                #expect(await connection.waitForClose())
                let response = WireResponse.parseAll(connection.received, closed: true).first
                #expect(response?.status == 400)
            }
        }
    }

    @Test("HEAD gets the upstream's headers with its content-length and no body; the connection stays usable")
    func head() async throws {
        try await Self.run { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send(
                    "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: a\r\n\r\n")
                let responses = await connection.responses(2, headRequests: [0])
                try #require(responses.count == 2)
                #expect(responses[0].status == 200)
                #expect(responses[0].framing == .none)
                #expect(Int(responses[0].header("content-length") ?? "") ?? 0 > 0)
                #expect(responses[0].header("x-echo-name") == "backend")
                #expect(responses[1].status == 202)
                #expect(try EchoReply(responses[1].bodyText).method == "GET")
            }
        }
    }

    @Test("curl's Expect: 100-continue POST of 2 MB gets 100 Continue from the proxy and the whole body arrives")
    func expectContinue() async throws {
        try await Self.run { proxy in
            try await TempFile.with(bytes: 2 * 1024 * 1024) { path in
                let result = try await Curl.perform([
                    "-v", "-H", "Expect: 100-continue", "--data-binary", "@\(path)",
                    proxy.url("/upload"),
                ])
                #expect(result.status == 200)
                #expect(result.stderr.contains("< HTTP/1.1 100 Continue"))
                let echo = try EchoReply(result.body)
                #expect(echo.bodyBytes == 2 * 1024 * 1024)
                #expect(echo.method == "POST")
                // The proxy answered the expectation itself; the upstream sees no Expect header.
                #expect(echo.values("expect") == [])
            }
        }
    }
}
