import FerryTestKit
import Foundation
import Testing

/// Envoy's TLS examples from the corpus: the ones that need only TLS validate and serve; the
/// double-proxy ones fail only on what other issues bring (tcp_proxy, listener filters), once
/// the certificate files the example expects next to it exist.
@Suite("Envoy example corpus: TLS")
struct ConformanceCorpusTLSTests {
    @Test("the TLS examples validate", arguments: [
        "tls_envoy-http-https.yaml", "tls_envoy-https-http.yaml", "tls_envoy-https-https.yaml", "tls-sni_envoy-client.yaml",
        "websocket_envoy-wss.yaml",
    ])
    func validates(file: String) async throws {
        let path = ConformanceCorpusTests.corpus.appendingPathComponent(file).path
        let r = try await FerryBinary.run(["--mode", "validate", "-c", path])
        #expect(r.status == 0 && r.stdout == "configuration '\(path)' OK\n", "\(r.stderr)")
    }

    @Test("double-proxy: with its certs/ present, only tcp_proxy and listener filters are left", arguments: [
        "double-proxy_envoy-frontend.yaml", "double-proxy_envoy-backend.yaml",
    ])
    func doubleProxy(file: String) async throws {
        let ca = try TestCertificates.makeAuthority(name: "cacert")
        defer { ca.remove() }
        let certs = ca.directory.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        for (name, host) in [("server", "proxy-postgres-backend.example.com"), ("client", "proxy-postgres-frontend.example.com")] {
            let issued = try ca.issue(name, dns: [host])
            try FileManager.default.copyItem(atPath: issued.certificatePath, toPath: certs.appendingPathComponent("\(name)cert.pem").path)
            try FileManager.default.copyItem(atPath: issued.keyPath, toPath: certs.appendingPathComponent("\(name)key.pem").path)
        }
        try FileManager.default.copyItem(atPath: ca.caPath, toPath: certs.appendingPathComponent("cacert.pem").path)
        let text = try ConformanceCorpusTests.load(file).replacingOccurrences(of: "filename: certs/", with: "filename: \(certs.path)/")
        let path = ca.directory.appendingPathComponent(file).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try await FerryBinary.run(["--mode", "validate", "-c", path])
        #expect(r.status == 1)
        let errors = r.stderr.split(separator: "\n").filter { $0.contains(": error: ") }
        #expect(!errors.isEmpty)
        for error in errors {
            #expect(error.contains("tcp_proxy") || error.contains("listener_filters"), "\(error)")
            #expect(!error.contains("transport_socket"), "\(error)")
        }
    }

    @Test("tls_envoy-https-http.yaml terminates TLS with its inline certificate and proxies to plain HTTP")
    func httpsToHTTP() async throws {
        let text = try ConformanceCorpusTests.load("tls_envoy-https-http.yaml")
        try await ProxyHarness.with(upstreams: ["service-http"], yaml: { ports in
            text.replacingOccurrences(of: "address: 0.0.0.0", with: "address: 127.0.0.1")
                .replacingOccurrences(of: "port_value: 10000", with: "port_value: 0")
                .replacingOccurrences(of: "port_value: 80\n", with: "port_value: \(ports[0])\n")
        }, hostOverrides: ["service-http": ["127.0.0.1"]]) { proxy, _ in
            // The example has no admin listener: stats are read in-process.
            let resolved = await Support.eventually { await proxy.localStat("cluster.service-http.membership_healthy") == 1 }
            #expect(resolved)
            // The example's certificate is self-signed for CN=front-envoy: curl -k, as the example's README does.
            let response = try await Curl.fetch(["-k", "https://127.0.0.1:\(proxy.port)/path"])
            #expect(response.status == 200, "\(response.stderr)")
            let echo = try EchoReply(response.body)
            #expect(echo.name == "service-http" && echo.header("x-forwarded-proto") == "https")
        }
    }
}
