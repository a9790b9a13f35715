import FerryTestKit
import Foundation
import Testing

/// TLS origination to clusters (`UpstreamTlsContext`): to `openssl s_server`, between two Ferry
/// proxies with mTLS (Envoy's double-proxy example), health checks over TLS, and certificate
/// rotation while a keep-alive connection stays open.
@Suite("TLS to upstreams, mTLS between proxies, certificate rotation")
struct TLSUpstreamTests {
    static let route = "- match: {prefix: /}\n  route: {cluster: backend}"

    /// UpstreamTlsContext fields trusting the CA, checking the server's DNS SAN, optionally
    /// presenting `identity` (mTLS) and sending `sni`.
    static func upstream(_ fixture: TLSFixture, san: String, identity: TestCertificates.Issued? = nil, sni: String? = nil) -> String {
        var yaml = sni.map { "sni: \($0)\n" } ?? ""
        yaml += "common_tls_context:\n"
        if let identity {
            yaml += "  tls_certificates:\n  - certificate_chain: {filename: \(identity.certificatePath)}\n"
            yaml += "    private_key: {filename: \(identity.keyPath)}\n"
        }
        return yaml + fixture.validation(sans: [san], type: "DNS")
    }

    @Test("a cluster speaks TLS to openssl s_server: the server certificate is verified against trusted_ca and its SAN")
    func toOpenSSLServer() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        let port = try FreePort.pick()
        try await ChildProcess.with("/usr/bin/openssl", ["s_server", "-accept", "127.0.0.1:\(port)", "-www", "-cert",
                                                         fixture.server.certificatePath, "-key", fixture.server.keyPath]) { server in
            let up = await Support.eventually { (try? await Curl.fetch(["-k", "https://127.0.0.1:\(port)/"]))?.status == 200 }
            #expect(up, "s_server did not start: \(server.stderr)")
            for (san, expected) in [("localhost", 200), ("elsewhere.example", 503)] {
                let yaml = TestConfig.bootstrap(routes: Self.route, clusters: [("backend", [port])],
                                                clusterExtra: TestCertificates.transportSocket(downstream: false,
                                                    Self.upstream(fixture, san: san, sni: "backend.local")))
                try await ProxyHarness.with(yaml: { _ in yaml }) { proxy, _ in
                    let response = try await Curl.fetch(proxy.url("/"))
                    #expect(response.status == expected, "SAN \(san): \(response.body)")
                    if expected == 200 {
                        // s_server -www describes the session it served.
                        #expect(response.body.contains("TLSv1.2"), "\(response.body)")
                        #expect(try await proxy.stat("cluster.backend.ssl.handshake") == 1)
                    } else {
                        #expect(try await proxy.stat("cluster.backend.ssl.fail_verify_san") == 1)
                    }
                }
            }
        }
    }

    @Test("two Ferry proxies with mTLS (double proxy): the front presents a SPIFFE identity, the back checks it; others are refused")
    func doubleProxy() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        try await ProxyHarness.with(upstreams: ["service"], yaml: { ports in
            TLSFixture.bootstrap(tls: fixture.downstream(requireClient: true, sans: [TLSFixture.clientID]),
                                 routes: Self.route, clusters: [("backend", [ports[0]])])
        }) { backProxy, _ in
            for (identity, expected) in [(fixture.client, 200), (fixture.stranger, 503)] {
                let front = TestConfig.bootstrap(
                    routes: Self.route, clusters: [("backend", [backProxy.port])],
                    clusterExtra: TestCertificates.transportSocket(downstream: false,
                        Self.upstream(fixture, san: "backend.local", identity: identity) + """
                          tls_params: {tls_minimum_protocol_version: TLSv1_3, tls_maximum_protocol_version: TLSv1_3}
                        """))
                try await ProxyHarness.with(yaml: { _ in front }) { frontProxy, _ in
                    let response = try await Curl.fetch(frontProxy.url("/through"))
                    #expect(response.status == expected, "\(response.body)")
                    if expected == 200 {
                        let echo = try EchoReply(response.body)
                        #expect(echo.name == "service" && echo.path == "/through")
                    }
                }
            }
            #expect(try await backProxy.stat("listener.127.0.0.1_0.ssl.fail_verify_san") == 1)
        }
    }

    @Test("health checks of a TLS cluster use TLS: a host that speaks it passes")
    func healthCheckOverTLS() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        let backend = TLSFixture.bootstrap(tls: fixture.downstream(), routes: "- match: {prefix: /}\n  direct_response: {status: 200}")
        try await ProxyHarness.with(yaml: { _ in backend }) { backProxy, _ in
            let checks = "health_checks: [{timeout: 1s, interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: {path: /hc}}]"
            let front = TestConfig.bootstrap(routes: Self.route, clusters: [("backend", [backProxy.port])],
                                             clusterExtra: checks + "\n" + TestCertificates.transportSocket(downstream: false,
                                                 Self.upstream(fixture, san: "localhost")))
            try await ProxyHarness.with(yaml: { _ in front }) { proxy, _ in
                // Without traffic yet the next check waits for no_traffic_interval: one passing check is the answer.
                let healthy = try await Support.eventually { try await proxy.stat("cluster.backend.health_check.success") == 1 }
                #expect(healthy)
                #expect(try await proxy.stat("cluster.backend.membership_healthy") == 1)
                #expect(try await proxy.stat("cluster.backend.health_check.network_failure") == 0)
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
            }
        }
    }

    /// Two GETs on one HTTPS connection, `argv[3]` seconds apart; prints both statuses and the
    /// serial of the certificate that connection was opened with.
    static let keepAliveClient = """
        import http.client, ssl, sys, time
        context = ssl.create_default_context(cafile=sys.argv[1])
        connection = http.client.HTTPSConnection("localhost", int(sys.argv[2]), context=context, timeout=10)
        for path in ["/one", "/two"]:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            print(response.status, flush=True)
            if path == "/one":
                time.sleep(float(sys.argv[3]))
        print(connection.sock.getpeercert()["serialNumber"])
        """

    @Test("rotated certificate files serve new handshakes; an open keep-alive connection keeps working")
    func rotation() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        let yaml = TLSFixture.bootstrap(tls: fixture.downstream(), routes: "- match: {prefix: /}\n  direct_response: {status: 200}")
        try await ProxyHarness.with(yaml: { _ in yaml }) { proxy, _ in
            var probes = 0
            func serial() async throws -> String {
                probes += 1
                let out = try await fixture.sClient(port: proxy.port, ["-servername", "localhost"])
                let pem = out.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first.map {
                    "-----BEGIN CERTIFICATE-----" + $0.components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
                } ?? ""
                let parsed = try await ChildProcess.run("/usr/bin/openssl", ["x509", "-noout", "-serial"], stdin: Data(pem.utf8))
                return parsed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(try await serial() == "serial=" + String(fixture.server.serial, radix: 16).uppercased().leftPadded())
            // One keep-alive connection open across the rotation: two requests 3 s apart, then its serial.
            let keepAlive = Task {
                try await ChildProcess.run("/usr/bin/env", ["python3", "-c", Self.keepAliveClient, fixture.ca.caPath,
                                                            String(proxy.port), "3"], timeout: 20)
            }
            // Rotate only once its handshake is done (a loaded machine starts Python slowly).
            let connected = try await Support.eventually {
                try await proxy.stat("listener.127.0.0.1_0.ssl.handshake") == probes + 1
            }
            #expect(connected, "the keep-alive client did not connect")
            let rotated = try fixture.ca.issue("server", dns: ["localhost"], ips: ["127.0.0.1"], serial: 0xABCDE)
            let changed = try await Support.eventually { try await serial() == "serial=0ABCDE" }
            #expect(changed, "rotated to \(rotated.serial)")
            let result = try await keepAlive.value
            let original = String(fixture.server.serial, radix: 16).uppercased().leftPadded()
            #expect(result.stdout == "200\n200\n\(original)\n", "\(result.stdout) \(result.stderr)")
            // One handshake per s_client probe and one for curl's two requests: the connection was kept.
            let handshakes = try await proxy.stat("listener.127.0.0.1_0.ssl.handshake")
            #expect(handshakes == probes + 1, "\(String(describing: handshakes)) handshakes for \(probes) probes")
        }
    }
}

extension String {
    /// OpenSSL prints serials as an even number of hex digits.
    func leftPadded() -> String { count % 2 == 0 ? self : "0" + self }
}
