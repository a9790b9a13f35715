import FerryTestKit
import Foundation
import Testing

/// Filter chain choice side by side with the real Envoy 1.40: the same listener (TLS inspector,
/// chains by server name, wildcard, ALPN and transport protocol) in front of the same
/// upstreams, the same clients; each connection must reach the same upstream, or be closed by both.
@Suite("Differential: filter chain matching against Envoy")
struct FilterChainDifferentialTests {
    /// (filter_chain_match, cluster) in config order.
    static let chains: [(String, String)] = [
        ("{server_names: [www.example.com]}", "exact"),
        ("{server_names: [\"*.example.com\"]}", "wildcard"),
        ("{server_names: [\"*.b.example.com\"], application_protocols: [h2]}", "deep_h2"),
        ("{transport_protocol: tls, application_protocols: [http/1.1]}", "tls_http1"),
        ("{transport_protocol: tls}", "tls_any"),
        ("{transport_protocol: raw_buffer}", "plaintext"),
        ("{destination_port: 1}", "port_one"),
    ]

    /// A client: TLS with this SNI and ALPN (nil: none), or plaintext; and the cluster Envoy's
    /// rules pick for it (nil: no chain, the connection is closed).
    static let probes: [(sni: String?, alpn: String?, plaintext: Bool, expected: String?)] = [
        ("www.example.com", nil, false, "exact"),
        ("api.example.com", "h2", false, "wildcard"),
        ("x.b.example.com", "h2", false, "deep_h2"),
        // The longest wildcard wins the server-name level; its ALPN then fails, with no way back.
        ("x.b.example.com", "http/1.1", false, nil),
        ("other.org", "http/1.1", false, "tls_http1"),
        ("other.org", "h2,http/1.1", false, "tls_http1"),
        ("other.org", "h2", false, "tls_any"),
        (nil, nil, false, "tls_any"),
        (nil, nil, true, "plaintext"),
    ]

    static func probe(port: Int, sni: String?, alpn: String?, plaintext: Bool) async throws {
        if plaintext {
            try await RawConnection.with(port: port) { client in
                try await client.send("GET / HTTP/1.0\r\n\r\n")
                _ = await client.waitForClose()
            }
            return
        }
        guard let openssl = ChildProcess.which("openssl") else { throw ChildProcessError("openssl is not installed") }
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)"]
        arguments += sni.map { ["-servername", $0] } ?? ["-noservername"]
        if let alpn { arguments += ["-alpn", alpn] }
        _ = try await ChildProcess.run(openssl, arguments, stdin: Data(), timeout: 10)
    }

    @Test("every client reaches the same chain through Ferry and Envoy")
    func sameChoice() async throws {
        var servers: [TCPTestServer] = []
        try await withCleanup {
            for _ in Self.chains { servers.append(try await TCPTestServer.start(.close)) }
            let chainYAML = Self.chains.map { L4Config.chain(L4Config.proxy($0.1), match: $0.0) }.joined()
            let clusters = zip(Self.chains, servers).map { L4Config.cluster($0.0.1, [$0.1.port]) }.joined()
            let yaml = L4Config.bootstrap(listeners: L4Config.listener("main", fields: L4Config.inspector, chains: chainYAML),
                                          clusters: clusters)
            /// The cluster whose upstream got the connection `send` made, or nil.
            func reached(_ send: () async throws -> Void) async throws -> String? {
                let before = servers.map(\.connections)
                try await send()
                // The upstream closes at once, and the client ends only after that, so its count is already up.
                let after = servers.map(\.connections)
                return zip(Self.chains, zip(before, after)).first { $0.1.1 > $0.1.0 }?.0.1
            }
            try await EnvoyProcess.with(yaml: yaml) { envoy in
                try await ProxyHarness.with(yaml: yaml) { ferry in
                    for probe in Self.probes {
                        let label = "sni \(probe.sni ?? "-") alpn \(probe.alpn ?? "-")\(probe.plaintext ? " plaintext" : "")"
                        let viaEnvoy = try await reached {
                            try await Self.probe(port: envoy.port(of: "main"), sni: probe.sni, alpn: probe.alpn, plaintext: probe.plaintext)
                        }
                        let viaFerry = try await reached {
                            try await Self.probe(port: ferry.port(of: "main"), sni: probe.sni, alpn: probe.alpn, plaintext: probe.plaintext)
                        }
                        #expect(viaFerry == viaEnvoy, "\(label): Envoy \(viaEnvoy ?? "closed"), Ferry \(viaFerry ?? "closed")")
                        #expect(viaEnvoy == probe.expected, "\(label): Envoy chose \(viaEnvoy ?? "no chain")")
                    }
                }
            }
        } cleanup: {
            for server in servers { await server.stop() }
        }
    }
}
