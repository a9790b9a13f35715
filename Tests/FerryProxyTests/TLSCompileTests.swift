import FerryConfig
@testable import FerryProxy
import FerryTelemetry
import FerryTestKit
import Foundation
import Testing

/// Certificates and keys are parsed when a generation is compiled (and so by `--mode validate`):
/// a bad PEM or a key that does not match its certificate is a located config error.
@Suite("TLS contexts compiled from config")
struct TLSCompileTests {
    static func yaml(chain: String, key: String, ca: String? = nil) -> String {
        let validation = ca.map { "\n      validation_context: {trusted_ca: {filename: \($0)}}" } ?? ""
        let socket = """
            transport_socket:
              name: envoy.transport_sockets.tls
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
                common_tls_context:
                  tls_certificates:
                  - certificate_chain: {filename: \(chain)}
                    private_key: {filename: \(key)}\(validation)
            """
        return TestCertificates.withListenerTLS(
            TestConfig.bootstrap(routes: "- match: {prefix: /}\n  direct_response: {status: 200}", clusters: [], admin: false), socket)
    }

    static func compile(_ yaml: String) throws -> Result<ConfigGeneration, ConfigErrors> {
        let loaded = try ConfigLoader.load(yaml: yaml, file: "tls.yaml").get()
        return GenerationCompiler.compile(loaded, id: 1, store: StatsStore())
    }

    static func only(_ result: Result<ConfigGeneration, ConfigErrors>) -> ConfigDiagnostic? {
        guard case .failure(let errors) = result else { return nil }
        return errors.diagnostics.count == 1 ? errors.diagnostics[0] : nil
    }

    @Test("a certificate and its key compile into a TLS listener")
    func good() throws {
        let ca = try TestCertificates.makeAuthority()
        defer { ca.remove() }
        let server = try ca.issue("server", dns: ["localhost"])
        let generation = try Self.compile(Self.yaml(chain: server.certificatePath, key: server.keyPath, ca: ca.caPath)).get()
        let listener = try #require(generation.listener(named: "main"))
        #expect(listener.chains.first?.tls != nil)
        #expect(generation.tlsContexts.count == 1)
        #expect(ReloadableTLSContext.files(of: listener.chains[0].tls!.context.source) == [server.certificatePath, server.keyPath, ca.caPath])
    }

    @Test("a key that does not match the certificate is an error at private_key")
    func mismatchedKey() throws {
        let ca = try TestCertificates.makeAuthority()
        defer { ca.remove() }
        let server = try ca.issue("server", dns: ["localhost"])
        let other = try ca.issue("other", dns: ["localhost"])
        let yaml = Self.yaml(chain: server.certificatePath, key: other.keyPath)
        let error = try #require(Self.only(try Self.compile(yaml)))
        #expect(error.message == "the private key does not match the certificate")
        #expect(error.path == "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key")
        let line = yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("private_key:") }.map { $0 + 1 }
        #expect(error.location.file == "tls.yaml" && error.location.line == line)
        #expect(error.fix?.isEmpty == false)
    }

    @Test("a file that is not PEM, or a CA file without certificates, is an error naming the file")
    func badPEM() throws {
        let ca = try TestCertificates.makeAuthority()
        defer { ca.remove() }
        let server = try ca.issue("server", dns: ["localhost"])
        let garbage = ca.directory.appendingPathComponent("garbage.pem").path
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let chainError = try #require(Self.only(try Self.compile(Self.yaml(chain: garbage, key: server.keyPath))))
        #expect(chainError.message.contains("file \"\(garbage)\""), "\(chainError)")
        #expect(chainError.path.hasSuffix("tls_certificates[0].certificate_chain"))
        let keyError = try #require(Self.only(try Self.compile(Self.yaml(chain: server.certificatePath, key: garbage))))
        #expect(keyError.message.contains("is not a valid PEM private key"), "\(keyError)")
        let caError = try #require(Self.only(try Self.compile(Self.yaml(chain: server.certificatePath, key: server.keyPath, ca: garbage))))
        #expect(caError.path.hasSuffix("validation_context.trusted_ca"), "\(caError)")
    }

    @Test("a changed certificate file is picked up by the next poll; a broken one keeps the old context")
    func reload() throws {
        let ca = try TestCertificates.makeAuthority()
        defer { ca.remove() }
        let server = try ca.issue("server", dns: ["localhost"], serial: 1)
        let generation = try Self.compile(Self.yaml(chain: server.certificatePath, key: server.keyPath)).get()
        let context = try #require(generation.tlsContexts.first)
        #expect(context.reloadIfChanged() == .unchanged)
        let first = context.context
        _ = try ca.issue("server", dns: ["localhost"], serial: 2)
        #expect(context.reloadIfChanged() == .reloaded)
        #expect(context.context !== first)
        let second = context.context
        try "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n".write(toFile: server.certificatePath, atomically: true, encoding: .utf8)
        guard case .failed = context.reloadIfChanged() else { Issue.record("a broken file must not load"); return }
        #expect(context.context === second)
        #expect(context.reloadIfChanged() == .unchanged)  // the same broken files are not retried
    }

    /// A cluster with an UpstreamTlsContext offering `alpn` (none when nil) and `auto_config`.
    static func autoCluster(alpn: [String]?, healthCheck: Bool = false) -> String {
        let offered = alpn.map { "alpn_protocols: [\($0.joined(separator: ", "))]" } ?? ""
        var extra = """
            transport_socket:
              name: envoy.transport_sockets.tls
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
                common_tls_context: {\(offered)}
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                auto_config: {}
            """
        if healthCheck {
            extra += "\nhealth_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 2, healthy_threshold: 1, http_health_check: {path: /h}}]"
        }
        return TestConfig.bootstrap(routes: "- match: {prefix: /}\n  route: {cluster: auto}", clusters: [("auto", [9443])],
                                    clusterExtra: extra, admin: false)
    }

    @Test("auto_config offers h2 and http/1.1 by default; other ALPN names are errors; HTTP/1 health checks get an http/1.1-only context")
    func autoConfigALPN() throws {
        let generation = try Self.compile(Self.autoCluster(alpn: nil)).get()
        let tls = try #require(generation.clusters.first { $0.config.name == "auto" }?.tls)
        guard case .client(let context) = tls.context.source else { Issue.record("not a client context"); return }
        #expect(context.common.alpnProtocols == ["h2", "http/1.1"])
        #expect(tls.healthCheckContext == nil)
        #expect(throws: Never.self) { try Self.compile(Self.autoCluster(alpn: ["http/1.1"])).get() }
        let error = try #require(Self.only(try Self.compile(Self.autoCluster(alpn: ["h2", "h3"]))))
        #expect(error.message.contains("\"h3\" is not one auto_config can speak"), "\(error)")
        #expect(error.path.hasSuffix("common_tls_context.alpn_protocols") && error.fix?.isEmpty == false)

        let checked = try Self.compile(Self.autoCluster(alpn: nil, healthCheck: true)).get()
        let checkedTLS = try #require(checked.clusters.first { $0.config.name == "auto" }?.tls)
        guard case .client(let checkContext)? = checkedTLS.healthCheckContext?.source else { Issue.record("no health check context"); return }
        #expect(checkContext.common.alpnProtocols == ["http/1.1"])
        #expect(checked.tlsContexts.count == 2)
    }
}
