import FerryTestKit
import Testing

/// Request and response headers the connection manager owns: hop-by-hop removal,
/// x-forwarded-for / -proto, internal vs external, x-request-id.
@Suite("Forwarding headers")
struct ForwardingHeaderTests {
    static func run(hcmExtra: String = "", _ body: (ProxyHarness) async throws -> Void) async throws {
        try await Support.withEchoBackend(hcmExtra: hcmExtra, body)
    }

    /// Sends `head` (request line and header lines) on a fresh connection; returns the echo.
    static func echo(_ proxy: ProxyHarness, _ head: String) async throws -> EchoReply {
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send(head + "\r\n\r\n")
            let response = try #require(await connection.responses(1).first)
            return try EchoReply(response.bodyText)
        }
    }

    @Test("hop-by-hop headers and headers named in Connection are removed; te: trailers survives")
    func hopByHopRequestHeaders() async throws {
        try await Self.run { proxy in
            let echo = try await Self.echo(
                proxy,
                """
                GET / HTTP/1.1\r
                Host: a\r
                Connection: keep-alive, x-drop-me\r
                x-drop-me: 1\r
                Keep-Alive: timeout=5\r
                Proxy-Connection: keep-alive\r
                TE: trailers, deflate\r
                Upgrade: h2c\r
                x-keep: 1
                """)
            let names = Set(echo.headers.map { $0[0].lowercased() })
            for dropped in ["connection", "x-drop-me", "keep-alive", "proxy-connection", "upgrade"] {
                #expect(!names.contains(dropped), "\(dropped) reached the upstream")
            }
            #expect(echo.values("te") == ["trailers"])
            #expect(echo.values("x-keep") == ["1"])
        }
    }

    @Test("hop-by-hop headers of the upstream response are removed before the client sees it")
    func hopByHopResponseHeaders() async throws {
        let reply =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n"
            + "Proxy-Connection: keep-alive\r\nx-keep: 1\r\n\r\nok"
        try await ScriptedUpstream.with({ _ in .bytes(reply, close: false) }) { upstream in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "raw"), clusters: [("raw", [upstream.port])])
            }) { proxy, _ in
                let response = try await Support.get(proxy, "/")
                #expect(response.status == 200)
                #expect(response.body == "ok")
                #expect(response.header("keep-alive") == nil)
                #expect(response.header("proxy-connection") == nil)
                #expect(response.header("x-keep") == "1")
            }
        }
    }

    @Test("use_remote_address true appends the peer to x-forwarded-for and overwrites x-forwarded-proto")
    func remoteAddressTrue() async throws {
        try await Self.run(hcmExtra: "use_remote_address: true") { proxy in
            let echo = try await Self.echo(
                proxy, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https")
            let xff = try #require(echo.values("x-forwarded-for").first)
            let hops = xff.split(separator: ",", omittingEmptySubsequences: false)
            #expect(hops.count == 2, "x-forwarded-for: \(xff)")
            #expect(hops.first == "1.2.3.4")
            #expect(echo.values("x-forwarded-proto") == ["http"])
            let fresh = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a")
            #expect(fresh.values("x-forwarded-for").count == 1)
        }
    }

    @Test("Envoy 1.40 treats a loopback peer as external: x-envoy-external-address set, client x-request-id replaced")
    func loopbackIsExternal() async throws {
        try await Self.run(hcmExtra: "use_remote_address: true") { proxy in
            let echo = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a\r\nx-request-id: from-client")
            #expect(echo.values("x-envoy-external-address") == ["127.0.0.1"])
            #expect(echo.values("x-envoy-internal") == [])
            let id = echo.values("x-request-id")
            #expect(id.count == 1 && Support.isUUID(id.first), "x-request-id: \(id)")
        }
    }

    @Test("use_remote_address false passes x-forwarded-for and x-forwarded-proto through untouched")
    func remoteAddressFalse() async throws {
        try await Self.run(hcmExtra: "use_remote_address: false") { proxy in
            let echo = try await Self.echo(
                proxy, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 5.6.7.8, 1.2.3.4\r\nX-Forwarded-Proto: https")
            #expect(echo.values("x-forwarded-for") == ["5.6.7.8, 1.2.3.4"])
            #expect(echo.values("x-forwarded-proto") == ["https"])
            #expect(echo.values("x-envoy-external-address") == [])
            let plain = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a")
            #expect(plain.values("x-forwarded-for") == [])
            #expect(plain.values("x-forwarded-proto") == ["http"])
        }
    }

    @Test("xff_num_trusted_hops 1 with use_remote_address picks the last x-forwarded-for entry as the client")
    func trustedHops() async throws {
        try await Self.run(hcmExtra: "use_remote_address: true\nxff_num_trusted_hops: 1") { proxy in
            let one = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 5.6.7.8")
            #expect(one.values("x-envoy-external-address") == ["5.6.7.8"])
            #expect(one.values("x-forwarded-for").first?.hasPrefix("5.6.7.8,") == true)
            let two = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 5.6.7.8, 9.9.9.9")
            #expect(two.values("x-envoy-external-address") == ["9.9.9.9"])
            #expect(two.values("x-forwarded-for").first?.hasPrefix("5.6.7.8, 9.9.9.9,") == true)
        }
    }

    @Test("x-request-id is generated as a version-4 UUID when absent, unique per request, and kept when sent")
    func requestID() async throws {
        try await Self.run { proxy in
            let first = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a")
            let second = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a")
            let ids = first.values("x-request-id") + second.values("x-request-id")
            #expect(ids.count == 2)
            #expect(ids.allSatisfy { Support.isUUID($0) }, "\(ids)")
            #expect(ids.first != ids.last)
            let kept = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a\r\nx-request-id: client-chosen")
            #expect(kept.values("x-request-id") == ["client-chosen"])
        }
    }

    @Test("generate_request_id false adds no x-request-id")
    func noRequestID() async throws {
        try await Self.run(hcmExtra: "generate_request_id: false") { proxy in
            let echo = try await Self.echo(proxy, "GET / HTTP/1.1\r\nHost: a")
            #expect(echo.values("x-request-id") == [])
        }
    }
}
