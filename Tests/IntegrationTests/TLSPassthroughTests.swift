import FerryTestKit
import Foundation
import Testing

/// The TLS inspector and filter chain matching with real TLS: curl and `openssl s_server`
/// upstreams on loopback; the proxy never terminates TLS.
@Suite("TLS inspector and filter chain matching")
struct TLSPassthroughTests {
    /// `curl -vk https://<name>:<port>/` with the name resolved to loopback.
    static func fetch(_ name: String, port: Int) async throws -> Curl.Result {
        try await Curl.perform(["-vk", "--max-time", "10", "--resolve", "\(name):\(port):127.0.0.1", "https://\(name):\(port)/"])
    }

    static let hcmChain = """
        filters: [{name: envoy.filters.network.http_connection_manager, typed_config: {"@type": \(TestConfig.hcmType), stat_prefix: plain, route_config: {virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster: web}}]}]}, http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": \(TestConfig.routerType)}}]}}]
        """

    @Test("SNI picks the chain without terminating TLS: exact name, then wildcard; an unknown name is closed")
    func sniRouting() async throws {
        try await TLSTestServer.with(names: ["a.example.com", "b.example.com"]) { servers in
            try await AccessLogFile.with { log in
                let logged = L4Config.accessLog(log, "%REQUESTED_SERVER_NAME% %UPSTREAM_CLUSTER%")
                let chains = L4Config.chain(L4Config.proxy("a", logged), match: "{server_names: [a.example.com]}")
                    + L4Config.chain(L4Config.proxy("b", logged), match: "{server_names: [\"*.example.com\"]}")
                let yaml = L4Config.bootstrap(listeners: L4Config.listener("sni", fields: L4Config.inspector, chains: chains),
                                              clusters: L4Config.cluster("a", [servers[0].port]) + L4Config.cluster("b", [servers[1].port]))
                try await ProxyHarness.with(yaml: yaml) { proxy in
                    let port = proxy.port(of: "sni")
                    let exact = try await Self.fetch("a.example.com", port: port)
                    #expect(exact.status == 200 && exact.stderr.contains("subject: CN=a.example.com"), "\(exact.stderr)")
                    let wildcard = try await Self.fetch("shop.example.com", port: port)
                    #expect(wildcard.status == 200 && wildcard.stderr.contains("subject: CN=b.example.com"), "\(wildcard.stderr)")
                    let unknown = try await Self.fetch("other.org", port: port)
                    #expect(unknown.exitCode != 0)
                    #expect(try await proxy.stat("listener.127.0.0.1_0.no_filter_chain_match") == 1)
                    #expect(try await proxy.stat("tls_inspector.sni_found") == 3)
                    #expect(try await proxy.stat("tcp.a.downstream_cx_total") == 1)
                    #expect(try await proxy.stat("tcp.b.downstream_cx_total") == 1)
                    let lines = await log.waitForLines(2)
                    #expect(Set(lines) == ["a.example.com a", "shop.example.com b"], "\(lines)")
                }
            }
        }
    }

    @Test("one port serves plaintext HTTP through the connection manager and TLS through tcp_proxy")
    func mixedTransport() async throws {
        try await TLSTestServer.with(names: ["secure.example.com"]) { servers in
            let echo = try await EchoServer.start(name: "web")
            try await withCleanup {
                let chains = L4Config.chain(L4Config.proxy("secure"), match: "{transport_protocol: tls}")
                    + "- filter_chain_match: {transport_protocol: raw_buffer}\n  " + Self.hcmChain + "\n"
                let yaml = L4Config.bootstrap(listeners: L4Config.listener("mixed", fields: L4Config.inspector, chains: chains),
                                              clusters: L4Config.cluster("secure", [servers[0].port]) + L4Config.cluster("web", [echo.port]))
                try await ProxyHarness.with(yaml: yaml) { proxy in
                    let port = proxy.port(of: "mixed")
                    let plain = try await Curl.fetch("http://127.0.0.1:\(port)/hello")
                    #expect(plain.status == 200 && plain.header("x-echo-name") == "web")
                    #expect(try EchoReply(plain.body).path == "/hello")
                    let tls = try await Self.fetch("secure.example.com", port: port)
                    #expect(tls.status == 200 && tls.stderr.contains("subject: CN=secure.example.com"))
                    #expect(try await proxy.stat("tls_inspector.tls_found") == 1)
                    #expect(try await proxy.stat("tls_inspector.tls_not_found") == 1)
                }
            } cleanup: {
                await echo.stop()
            }
        }
    }

    @Test("without tls_inspector the SNI is unknown, so a chain that needs one never matches (as Envoy 1.40)")
    func serverNamesNeedInspector() async throws {
        try await TLSTestServer.with(names: ["a.example.com"]) { servers in
            let yaml = L4Config.bootstrap(
                listeners: L4Config.listener("sni", chains: L4Config.chain(L4Config.proxy("a"), match: "{server_names: [a.example.com]}")),
                clusters: L4Config.cluster("a", [servers[0].port]))
            try await ProxyHarness.with(yaml: yaml) { proxy in
                let result = try await Self.fetch("a.example.com", port: proxy.port(of: "sni"))
                #expect(result.exitCode != 0)
                #expect(try await proxy.stat("listener.127.0.0.1_0.no_filter_chain_match") == 1)
            }
        }
    }

    @Test("listener_filters_timeout closes a client that sends nothing, or lets it go on as plaintext when told to")
    func inspectorTimeout() async throws {
        try await TCPTestServer.with(.echo) { echo in
            for proceed in [false, true] {
                let fields = L4Config.inspector + "\nlistener_filters_timeout: 0.3s\ncontinue_on_listener_filters_timeout: \(proceed)"
                let yaml = L4Config.bootstrap(listeners: L4Config.listener("l", fields: fields, chains: L4Config.chain(L4Config.proxy("echo"))),
                                              clusters: L4Config.cluster("echo", [echo.port]))
                try await ProxyHarness.with(yaml: yaml) { proxy in
                    try await RawConnection.with(port: proxy.port(of: "l")) { client in
                        try await Task.sleep(for: .milliseconds(600))
                        if proceed {
                            try await client.send("late")
                            #expect(await client.wait { bytes, _ in bytes.count == 4 })
                        } else {
                            #expect(await client.waitForClose())
                        }
                    }
                    #expect(try await proxy.stat("listener.127.0.0.1_0.downstream_pre_cx_timeout") == 1)
                    #expect(try await proxy.stat("tcp.echo.downstream_cx_total") == (proceed ? 1 : 0))
                }
            }
        }
    }

    @Test("destination_port: the chain for the port a connection arrived on wins over the catch-all")
    func destinationPort() async throws {
        try await TCPTestServer.with(.close) { special in
            try await TCPTestServer.with(.close) { other in
                let first = try FreePort.reservedForListener(), second = try FreePort.reservedForListener()
                let chains = L4Config.chain(L4Config.proxy("special"), match: "{destination_port: \(first)}")
                    + L4Config.chain(L4Config.proxy("other"))
                let yaml = L4Config.bootstrap(
                    listeners: L4Config.listener("first", port: first, chains: chains) + L4Config.listener("second", port: second, chains: chains),
                    clusters: L4Config.cluster("special", [special.port]) + L4Config.cluster("other", [other.port]))
                try await ProxyHarness.with(yaml: yaml) { proxy in
                    for port in [first, second, first] {
                        try await RawConnection.with(port: port) { client in _ = await client.waitForClose() }
                    }
                    #expect(special.connections == 2 && other.connections == 1)
                }
            }
        }
    }

    @Test("/listeners?format=json lists each listener's chains and /config_dump carries them as written")
    func adminShowsChains() async throws {
        let chains = L4Config.chain(L4Config.proxy("a"), match: "{server_names: [a.example.com], transport_protocol: tls}")
            + "- name: web\n  " + Self.hcmChain + "\n"
        let yaml = L4Config.bootstrap(listeners: L4Config.listener("sni", fields: L4Config.inspector, chains: chains),
                                      clusters: L4Config.cluster("a", [1]) + L4Config.cluster("web", [1]))
        try await ProxyHarness.with(yaml: yaml) { proxy in
            let json = try Admin.json(try await Admin.get(proxy, "/listeners?format=json").body)
            let status = try #require((json["listener_statuses"] as? [[String: Any]])?.first)
            let listed = try #require(status["filter_chains"] as? [[String: Any]])
            #expect(listed.map { $0["filter"] as? String } == ["envoy.filters.network.tcp_proxy", "envoy.filters.network.http_connection_manager"])
            #expect(listed.map { $0["name"] as? String } == ["", "web"])
            let match = listed[0]["filter_chain_match"] as? [String: Any]
            #expect(match?["server_names"] as? [String] == ["a.example.com"] && match?["transport_protocol"] as? String == "tls")
            #expect((listed[1]["filter_chain_match"] as? [String: Any])?.isEmpty == true)
            let dump = try await Admin.get(proxy, "/config_dump?resource=static_listeners").body
            #expect(dump.contains("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy") && dump.contains("a.example.com"))
            let routes = try await Admin.get(proxy, "/config_dump?resource=static_route_configs").body
            #expect(routes.contains("\"domains\""))
        }
    }
}
