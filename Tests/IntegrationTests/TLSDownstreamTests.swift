import FerryTestKit
import Foundation
import Testing

/// TLS termination on a listener (`DownstreamTlsContext`), checked with real clients: curl over
/// HTTPS, `openssl s_client` for ALPN and versions, client certificates for mTLS.
@Suite("TLS termination on listeners")
struct TLSDownstreamTests {
    static let echoRoute = "- match: {prefix: /}\n  route: {cluster: backend}"
    static let directRoute = "- match: {prefix: /}\n  direct_response: {status: 200, body: {inline_string: \"over tls\\n\"}}"
    static let stats = "listener.127.0.0.1_0.ssl."

    static func with(_ tls: (TLSFixture) -> String, routes: String = directRoute, hcmExtra: String = "",
                     _ body: (ProxyHarness, TLSFixture) async throws -> Void) async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TLSFixture.bootstrap(tls: tls(fixture), routes: routes, clusters: [("backend", [ports[0]])], hcmExtra: hcmExtra)
        }) { proxy, _ in try await body(proxy, fixture) }
    }

    @Test("curl --cacert reaches the upstream over HTTPS: x-forwarded-proto https, a client's XFCC removed, the handshake counted")
    func https() async throws {
        try await Self.with({ $0.downstream() }, routes: Self.echoRoute) { proxy, fixture in
            let response = try await fixture.curl("https://localhost:\(proxy.port)/hello",
                                                  ["-H", "x-forwarded-client-cert: By=spiffe://spoofed"])
            #expect(response.exitCode == 0 && response.status == 200, "\(response.stderr)")
            let echo = try EchoReply(response.body)
            #expect(echo.path == "/hello")
            #expect(echo.header("x-forwarded-proto") == "https")
            #expect(echo.header("x-forwarded-client-cert") == nil)
            #expect(try await proxy.stat(Self.stats + "handshake") == 1)
            #expect(try await proxy.stat(Self.stats + "no_certificate") == 1)
            // Plain HTTP to the TLS port gets no HTTP answer.
            let plain = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/")
            #expect(plain.status == 0 && plain.exitCode != 0)
            let counted = try await Support.eventually { try await proxy.stat(Self.stats + "connection_error") == 1 }
            #expect(counted)
        }
    }

    @Test("transport_socket_connect_timeout closes a connection whose handshake is not done in time; a prompt client is served")
    func handshakeTimeout() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        try await ProxyHarness.with(yaml: { _ in
            TLSFixture.bootstrap(tls: fixture.downstream(), routes: Self.directRoute)
                .replacingOccurrences(of: "      filters:\n", with: "      transport_socket_connect_timeout: 0.5s\n      filters:\n")
        }) { proxy, _ in
            // One client sends nothing, another the first bytes of a ClientHello and no more.
            let silent = try await RawConnection.connect(port: proxy.port)
            let partial = try await RawConnection.connect(port: proxy.port)
            try await partial.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            let started = ContinuousClock.now
            #expect(await silent.waitForClose(timeout: .seconds(5)))
            #expect(await partial.waitForClose(timeout: .seconds(5)))
            #expect(ContinuousClock.now - started < .seconds(4))
            #expect(try await proxy.stat("listener.127.0.0.1_0.downstream_cx_transport_socket_connect_timeout") == 2)
            let served = try await fixture.curl("https://localhost:\(proxy.port)/")
            #expect(served.status == 200, "\(served.stderr)")
            // The served connection's deadline was cancelled with its handshake.
            try await Task.sleep(for: .milliseconds(700))
            #expect(try await proxy.stat("listener.127.0.0.1_0.downstream_cx_transport_socket_connect_timeout") == 2)
        }
    }

    @Test("ALPN: http/1.1 is negotiated from alpn_protocols; without them nothing is")
    func alpn() async throws {
        try await Self.with({ $0.downstream(common: "alpn_protocols: [http/1.1]") }) { proxy, fixture in
            let out = try await fixture.sClient(port: proxy.port, ["-alpn", "h2,http/1.1", "-servername", "localhost"])
            #expect(out.contains("ALPN protocol: http/1.1"), "\(out)")
        }
        try await Self.with({ $0.downstream() }) { proxy, fixture in
            let out = try await fixture.sClient(port: proxy.port, ["-alpn", "h2,http/1.1"])
            #expect(out.contains("No ALPN negotiated"), "\(out)")
        }
    }

    @Test("tls_minimum_protocol_version TLSv1_3 refuses a TLS 1.2 client; the maximum TLSv1_2 caps a TLS 1.3 client")
    func versions() async throws {
        try await Self.with({ $0.downstream(common: "tls_params: {tls_minimum_protocol_version: TLSv1_3}") }) { proxy, fixture in
            let old = try await fixture.sClient(port: proxy.port, ["-tls1_2"])
            #expect(old.contains("alert protocol version") && old.contains("Cipher is (NONE)"), "\(old)")
            let new = try await fixture.sClient(port: proxy.port, ["-tls1_3"])
            #expect(new.contains("New, TLSv1.3") && new.contains("Verify return code: 0"), "\(new)")
            let curl = try await fixture.curl("https://localhost:\(proxy.port)/", ["--tlsv1.2", "--tls-max", "1.2"])
            #expect(curl.exitCode != 0 && curl.status == 0)
        }
        try await Self.with({ $0.downstream(common: "tls_params: {tls_maximum_protocol_version: TLSv1_2}") }) { proxy, fixture in
            let out = try await fixture.sClient(port: proxy.port, [])
            #expect(out.contains("New, TLSv1.2") && !out.contains("TLSv1.3"), "\(out)")
        }
    }

    @Test("mTLS: the SPIFFE client passes and is logged; no certificate or a certificate whose SAN does not match is refused")
    func mutualTLS() async throws {
        try await AccessLogFile.with { log in
            let format = "%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_PEER_SUBJECT%"
            try await Self.with({ $0.downstream(requireClient: true, sans: [TLSFixture.clientID]) },
                                hcmExtra: log.yaml(format: format)) { proxy, fixture in
                let good = try await fixture.curl("https://localhost:\(proxy.port)/", as: fixture.client)
                #expect(good.status == 200 && good.body == "over tls\n", "\(good.stderr)")
                let lines = await log.waitForLines(1)
                #expect(lines.first == "TLSv1.3 \(TLSFixture.clientID) CN=foo,O=Ferry Tests", "\(lines)")

                let anonymous = try await fixture.curl("https://localhost:\(proxy.port)/")
                #expect(anonymous.status == 0 && anonymous.exitCode != 0)
                let stranger = try await fixture.curl("https://localhost:\(proxy.port)/", as: fixture.stranger)
                #expect(stranger.status == 0 && stranger.exitCode != 0)
                let counted = try await Support.eventually {
                    let noCert = try await proxy.stat(Self.stats + "fail_verify_no_cert")
                    let san = try await proxy.stat(Self.stats + "fail_verify_san")
                    return noCert == 1 && san == 1
                }
                #expect(counted)
                #expect(try await proxy.stat(Self.stats + "handshake") == 1)
                #expect(log.lines.count == 1)
            }
        }
    }

    @Test("forward_client_cert_details FORWARD_ONLY keeps XFCC from an mTLS client")
    func forwardOnly() async throws {
        try await Self.with({ $0.downstream(requireClient: true) }, routes: Self.echoRoute,
                            hcmExtra: "forward_client_cert_details: FORWARD_ONLY") { proxy, fixture in
            let response = try await fixture.curl("https://localhost:\(proxy.port)/", as: fixture.client,
                                                  ["-H", "x-forwarded-client-cert: By=spiffe://front"])
            #expect(try EchoReply(response.body).header("x-forwarded-client-cert") == "By=spiffe://front")
        }
    }
}
