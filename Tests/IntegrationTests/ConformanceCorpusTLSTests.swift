import FerryTestKit
import Foundation
import Testing

/// Envoy's TLS examples from the corpus: the ones that carry their certificates validate and
/// serve; the double-proxy and SNI ones validate once the certificate files they expect next to
/// them exist (the corpus does not ship them).
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

    @Test("with the certs/ files they expect next to them, the mTLS and SNI examples validate", arguments: [
        ("double-proxy_envoy-frontend.yaml", [("client", "proxy-postgres-frontend.example.com", "cert.pem", "key.pem")]),
        ("double-proxy_envoy-backend.yaml", [("server", "proxy-postgres-backend.example.com", "cert.pem", "key.pem")]),
        ("tls-sni_envoy.yaml", [("domain1", "domain1.example.com", ".crt.pem", ".key.pem"),
                                ("domain2", "domain2.example.com", ".crt.pem", ".key.pem")]),
    ])
    func withCertificates(file: String, certificates: [(name: String, host: String, certSuffix: String, keySuffix: String)]) async throws {
        let ca = try TestCertificates.makeAuthority(name: "cacert")
        defer { ca.remove() }
        let certs = ca.directory.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        for certificate in certificates {
            let issued = try ca.issue(certificate.name, dns: [certificate.host])
            try FileManager.default.copyItem(atPath: issued.certificatePath,
                                             toPath: certs.appendingPathComponent(certificate.name + certificate.certSuffix).path)
            try FileManager.default.copyItem(atPath: issued.keyPath, toPath: certs.appendingPathComponent(certificate.name + certificate.keySuffix).path)
        }
        try FileManager.default.copyItem(atPath: ca.caPath, toPath: certs.appendingPathComponent("cacert.pem").path)
        let text = try ConformanceCorpusTests.load(file).replacingOccurrences(of: "filename: certs/", with: "filename: \(certs.path)/")
        let path = ca.directory.appendingPathComponent(file).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try await FerryBinary.run(["--mode", "validate", "-c", path])
        #expect(r.status == 0 && r.stdout == "configuration '\(path)' OK\n", "\(r.stderr)")
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
