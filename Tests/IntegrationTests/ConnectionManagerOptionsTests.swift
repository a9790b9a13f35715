import FerryTestKit
import Testing

/// Connection manager options that shape headers and refuse requests, each checked against
/// Envoy 1.40 with the same config: `via`, `append_x_forwarded_port`,
/// `headers_with_underscores_action` and `http_protocol_options.allow_absolute_url`.
@Suite("Connection manager options")
struct ConnectionManagerOptionsTests {
    static func exchange(_ proxy: ProxyHarness, _ head: String) async throws -> WireResponse {
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send(head + "\r\n\r\n")
            return try #require(await connection.responses(1).first)
        }
    }

    @Test("via is appended to the request's Via (or added) and added to the response")
    func via() async throws {
        try await Support.withEchoBackend(hcmExtra: "via: \"1.1 ferrytest\"") { proxy in
            let appended = try await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y\r\nVia: 1.0 client")
            #expect(try EchoReply(appended.bodyText).values("via") == ["1.0 client, 1.1 ferrytest"])
            #expect(appended.header("via") == "1.1 ferrytest")
            let added = try await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y")
            #expect(try EchoReply(added.bodyText).values("via") == ["1.1 ferrytest"])
        }
    }

    @Test("append_x_forwarded_port sets the listener port with use_remote_address, replacing the client's")
    func forwardedPort() async throws {
        try await Support.withEchoBackend(hcmExtra: "use_remote_address: true\nappend_x_forwarded_port: true") { proxy in
            let fresh = try EchoReply(await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y").bodyText)
            #expect(fresh.values("x-forwarded-port") == [String(proxy.port)])
            let spoofed = try EchoReply(
                await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y\r\nx-forwarded-port: 9").bodyText)
            #expect(spoofed.values("x-forwarded-port") == [String(proxy.port)])
        }
    }

    @Test("headers_with_underscores_action REJECT_REQUEST answers 400 and closes; nothing reaches the upstream")
    func underscoresRejected() async throws {
        let options = "common_http_protocol_options: {headers_with_underscores_action: REJECT_REQUEST}"
        try await Support.withEchoBackend(hcmExtra: options) { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /a HTTP/1.1\r\nHost: y\r\nx_under: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n")
                #expect(await connection.waitForClose())
                let responses = WireResponse.parseAll(connection.received, closed: true)
                #expect(responses.map(\.status) == [400])
                #expect(responses.first?.bodyText == "Bad Request")
            }
            #expect(try await proxy.stat("http1.requests_rejected_with_underscores_in_headers") == 1)
            #expect(try await proxy.stat("cluster.backend.upstream_rq_total") == 0)
        }
    }

    @Test("headers_with_underscores_action DROP_HEADER forwards the request without those headers")
    func underscoresDropped() async throws {
        let options = "common_http_protocol_options: {headers_with_underscores_action: DROP_HEADER}"
        try await Support.withEchoBackend(hcmExtra: options) { proxy in
            let response = try await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y\r\nx_under: 1\r\nx-kept: 2\r\nb_c: 3")
            #expect(response.status == 200)
            let echo = try EchoReply(response.bodyText)
            #expect(echo.values("x_under").isEmpty && echo.values("b_c").isEmpty)
            #expect(echo.values("x-kept") == ["2"])
            #expect(try await proxy.stat("http1.dropped_headers_with_underscores") == 2)
        }
    }

    @Test("underscores are allowed by default")
    func underscoresAllowed() async throws {
        try await Support.withEchoBackend { proxy in
            let response = try await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y\r\nx_under: 1")
            #expect(try EchoReply(response.bodyText).values("x_under") == ["1"])
        }
    }

    @Test("an absolute-form request is routed by default; with allow_absolute_url false it gets 404")
    func absoluteURL() async throws {
        try await Support.withEchoBackend { proxy in
            let response = try await Self.exchange(proxy, "GET http://x.example/a?q=1 HTTP/1.1\r\nHost: y")
            #expect(response.status == 200)
            #expect(try EchoReply(response.bodyText).path == "/a?q=1")
        }
        try await Support.withEchoBackend(hcmExtra: "http_protocol_options: {allow_absolute_url: false}") { proxy in
            let refused = try await Self.exchange(proxy, "GET http://x.example/a HTTP/1.1\r\nHost: y")
            #expect(refused.status == 404)
            #expect(refused.bodyText.isEmpty)
            let origin = try await Self.exchange(proxy, "GET /a HTTP/1.1\r\nHost: y")
            #expect(origin.status == 200)
        }
    }
}
