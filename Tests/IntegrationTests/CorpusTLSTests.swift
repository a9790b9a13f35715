import FerryConfig
import FerryTestKit
import Foundation
import Testing

/// Envoy's TLS passthrough examples, unchanged but for loopback addresses, free ports and
/// compose host names mapped to loopback: the proxy passes TLS through to `openssl s_server`
/// upstreams, chosen by ALPN where the example says so, as the examples' READMEs show for Envoy.
@Suite("Envoy example corpus: TLS passthrough")
struct CorpusTLSTests {
    static func curl(_ arguments: [String], port: Int) async throws -> Curl.Result {
        try await Curl.perform(["-vk", "--max-time", "10"] + arguments + ["https://localhost:\(port)/"])
    }

    /// Waits until the STRICT_DNS clusters have their host (read in-process: some examples have no admin).
    static func resolved(_ proxy: ProxyHarness, _ clusters: [String]) async -> Bool {
        await Support.eventually {
            for name in clusters where await proxy.localStat("cluster.\(name).membership_healthy") != 1 { return false }
            return true
        }
    }

    @Test("a tcp_proxy example passes TLS through to its one upstream", arguments: [
        ("tls_envoy-https-passthrough.yaml", "service-https", "service-https"),
        ("websocket_envoy-wss-passthrough.yaml", "service-wss", "service_wss_passthrough"),
    ])
    func passthrough(file: String, service: String, cluster: String) async throws {
        let text = try ConformanceCorpusTests.load(file)
        #expect(text.contains("port_value: 443") && text.contains("port_value: 10000"))
        try await TLSTestServer.with(names: [service]) { servers in
            let yaml = text.replacingOccurrences(of: "address: 0.0.0.0", with: "address: 127.0.0.1")
                .replacingOccurrences(of: "port_value: 10000", with: "port_value: 0")
                .replacingOccurrences(of: "port_value: 443", with: "port_value: \(servers[0].port)")
            let proxy = try await ProxyHarness.start(yaml: yaml, hostOverrides: [service: ["127.0.0.1"]])
            try await withCleanup {
                #expect(await Self.resolved(proxy, [cluster]))
                let port = proxy.server.listenerAddresses[0].address.port ?? 0
                let result = try await Self.curl([], port: port)
                #expect(result.status == 200, "\(result.stderr)")
                #expect(result.stderr.contains("subject: CN=\(service)"))
            } cleanup: {
                await proxy.stop()
            }
        }
    }

    @Test("tls-inspector_envoy.yaml: ALPN h2 and http/1.1 go to their TLS upstreams, plaintext to the HTTP one")
    func alpnRouting() async throws {
        let text = try ConformanceCorpusTests.load("tls-inspector_envoy.yaml")
        #expect(text.contains("port_value: 12345") && text.contains("port_value: 80\n"))
        let tlsPort = try FreePort.pick()
        let h2 = try await TLSTestServer.start(name: "service-https1", host: "127.0.0.2", port: tlsPort)
        let http1 = try await TLSTestServer.start(name: "service-https0", host: "127.0.0.3", port: tlsPort)
        let plain = try await EchoServer.start(name: "service-http")
        try await withCleanup {
            let yaml = text.replacingOccurrences(of: "address: 0.0.0.0", with: "address: 127.0.0.1")
                .replacingOccurrences(of: "port_value: 12345", with: "port_value: 0")
                .replacingOccurrences(of: "port_value: 10000", with: "port_value: 0")
                .replacingOccurrences(of: "port_value: 443", with: "port_value: \(tlsPort)")
                .replacingOccurrences(of: "port_value: 80\n", with: "port_value: \(plain.port)\n")
            let hosts = ["service-https1": ["127.0.0.2"], "service-https0": ["127.0.0.3"], "service-http": ["127.0.0.1"]]
            let proxy = try await ProxyHarness.start(yaml: yaml, hostOverrides: hosts)
            try await withCleanup {
                #expect(await Self.resolved(proxy, Array(hosts.keys)))
                let port = proxy.server.listenerAddresses[0].address.port ?? 0
                let viaH2 = try await Self.curl(["--http2"], port: port)
                #expect(viaH2.stderr.contains("subject: CN=service-https1"), "\(viaH2.stderr)")
                let viaHTTP1 = try await Self.curl(["--http1.1"], port: port)
                #expect(viaHTTP1.stderr.contains("subject: CN=service-https0"), "\(viaHTTP1.stderr)")
                let viaPlain = try await Curl.fetch("http://127.0.0.1:\(port)/plain")
                #expect(viaPlain.status == 200 && viaPlain.header("x-echo-name") == "service-http")
                #expect(try await proxy.stat("tcp.https_passthrough.downstream_cx_total") == 2)
                #expect(try await proxy.stat("tcp.ingress_http.downstream_cx_total") == 1)
            } cleanup: {
                await proxy.stop()
            }
        } cleanup: {
            await h2.stop()
            await http1.stop()
            await plain.stop()
        }
    }
}
