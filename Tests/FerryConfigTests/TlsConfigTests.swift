@testable import FerryConfig
import Testing

/// `transport_socket` with `envoy.transport_sockets.tls` on listeners and clusters: what is read,
/// Envoy's defaults, and located refusals for what Ferry does not do yet.
@Suite("TLS transport socket config")
struct TlsConfigTests {
    static let pem = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
    static let keyPEM = "-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n"
    static let certificate = """
        tls_certificates:
        - certificate_chain: {inline_string: "\(pem)"}
          private_key: {inline_string: "\(keyPEM)"}
        """
    static let listenerPath = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config"
    static let clusterPath = "static_resources.clusters[0].transport_socket.typed_config"

    /// A bootstrap whose listener chain has a DownstreamTlsContext with `fields`.
    static func listener(_ fields: String, type: String = "DownstreamTlsContext", name: String = "envoy.transport_sockets.tls") -> String {
        let socket = """
                - transport_socket:
                    name: \(name)
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.\(type)

            """ + fields.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n") + "\n      filters:\n"
        return Fixture.bootstrap().replacingOccurrences(of: "    - filters:\n", with: socket)
    }

    /// A bootstrap whose cluster has an UpstreamTlsContext with `fields`.
    static func cluster(_ fields: String) -> String {
        Fixture.bootstrap(clusters: Fixture.backendCluster + """

              transport_socket:
                name: envoy.transport_sockets.tls
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext

            """ + fields.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
    }

    @Test("a DownstreamTlsContext is read: certificate, ALPN, versions, ciphers, curves, client certificates and SANs")
    func downstreamRead() throws {
        let yaml = Self.listener("""
            require_client_certificate: true
            common_tls_context:
              alpn_protocols: [http/1.1]
              tls_params:
                tls_minimum_protocol_version: TLSv1_3
                cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", ECDHE-RSA-AES256-GCM-SHA384]
                ecdh_curves: [X25519, P-256]
            \(Self.certificate.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
              validation_context:
                trusted_ca: {inline_string: "\(Self.pem)"}
                match_typed_subject_alt_names:
                - san_type: URI
                  matcher: {prefix: "spiffe://cluster.local/ns/default/"}
                - san_type: DNS
                  matcher: {exact: api.example.com}
            """)
        let tls = try #require(Fixture.load(yaml)?.listeners.first?.filterChains.first?.transportSocket)
        #expect(tls.requireClientCertificate)
        #expect(tls.common.alpnProtocols == ["http/1.1"])
        #expect(tls.common.parameters.versions(server: true) == (.v1_3, .v1_3))
        #expect(tls.common.parameters.cipherSuites.count == 2 && tls.common.parameters.ecdhCurves == ["X25519", "P-256"])
        #expect(tls.common.certificate?.certificateChain.source.string.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
        #expect(tls.common.certificate?.privateKey.path == "\(Self.listenerPath).common_tls_context.tls_certificates[0].private_key")
        let matchers = try #require(tls.common.validation?.subjectAltNameMatchers)
        #expect(matchers.map(\.sanType) == [.uri, .dns])
        #expect(matchers[0].matches("spiffe://cluster.local/ns/default/sa/foo"))
        #expect(!matchers[0].matches("spiffe://cluster.local/ns/other/sa/foo"))
        // A wildcard DNS SAN in the certificate matches an exact matcher for a name under it (Envoy's dnsNameMatch).
        #expect(matchers[1].matches("*.example.com") && matchers[1].matches("api.example.com"))
        #expect(!matchers[1].matches("*.other.com") && !matchers[1].matches("*.api.example.com"))
    }

    @Test("Envoy's version defaults: TLSv1_2 to TLSv1_3 for servers, TLSv1_2 only for clients")
    func versionDefaults() {
        let params = TlsParameters()
        #expect(params.versions(server: true) == (.v1_2, .v1_3))
        #expect(params.versions(server: false) == (.v1_2, .v1_2))
    }

    @Test("an UpstreamTlsContext is read with its sni; no transport_socket or raw_buffer is plain TCP")
    func upstreamRead() throws {
        let tls = try #require(Fixture.load(Self.cluster("sni: backend.example.com\nallow_renegotiation: false"))?.clusters.first?.upstreamTls)
        #expect(tls.sni == "backend.example.com")
        #expect(tls.common.certificate == nil && tls.common.validation == nil)
        #expect(Fixture.load(Fixture.bootstrap())?.clusters.first?.upstreamTls == nil)
        let raw = Self.listener("", type: "../raw_buffer.v3.RawBuffer", name: "envoy.transport_sockets.raw_buffer")
            .replacingOccurrences(of: "envoy.extensions.transport_sockets.tls.v3.../raw_buffer.v3.RawBuffer",
                                  with: "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer")
        let listener = try #require(Fixture.load(raw)?.listeners.first)
        #expect(listener.filterChains.first?.transportSocket == nil)
    }

    @Test("the deprecated match_subject_alt_names applies to every SAN type, and only without the typed list")
    func legacyMatchers() throws {
        let yaml = Self.cluster("""
            common_tls_context:
              validation_context:
                trusted_ca: {inline_string: "\(Self.pem)"}
                match_subject_alt_names: [{exact: backend.local}]
            """)
        let matchers = try #require(Fixture.load(yaml)?.clusters.first?.upstreamTls?.common.validation?.subjectAltNameMatchers)
        #expect(matchers.map(\.sanType) == [.dns, .uri, .email, .ipAddress])
    }

    @Test("a missing certificate file is an error at the filename, with the field path")
    func missingFile() {
        let yaml = Self.listener("""
            common_tls_context:
              tls_certificates:
              - certificate_chain: {filename: /nonexistent/ferry/cert.pem}
                private_key: {inline_string: "\(Self.keyPEM)"}
            """)
        Fixture.expectOneError(yaml, at: "/nonexistent/ferry/cert.pem",
                               path: "\(Self.listenerPath).common_tls_context.tls_certificates[0].certificate_chain.filename",
                               message: "cannot read file \"/nonexistent/ferry/cert.pem\"")
    }

    @Test("unknown fields get a suggestion; Envoy fields Ferry lacks (SDS, OCSP, SPKI pins) are not supported yet by name")
    func refusals() {
        Fixture.expectOneError(Self.listener("common_tls_context:\n  alpn_protocol: [http/1.1]\n" + Self.certificate.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")),
                               at: "alpn_protocol", path: "\(Self.listenerPath).common_tls_context.alpn_protocol",
                               message: "did you mean \"alpn_protocols\"")
        Fixture.expectError(Self.listener("common_tls_context:\n  tls_certificate_sds_secret_configs: [{name: server_cert}]"),
                            at: "tls_certificate_sds_secret_configs",
                            path: "\(Self.listenerPath).common_tls_context.tls_certificate_sds_secret_configs",
                            message: "CommonTlsContext.tls_certificate_sds_secret_configs is not supported yet by Ferry")
        Fixture.expectOneError(Self.cluster("common_tls_context:\n  validation_context:\n    trusted_ca: {inline_string: \"\(Self.pem)\"}\n    verify_certificate_spki: [abc]"),
                               at: "verify_certificate_spki",
                               path: "\(Self.clusterPath).common_tls_context.validation_context.verify_certificate_spki",
                               message: "CertificateValidationContext.verify_certificate_spki is not supported yet by Ferry")
        Fixture.expectOneError(Self.cluster("auto_host_sni: true"), at: "auto_host_sni", path: "\(Self.clusterPath).auto_host_sni",
                               message: "UpstreamTlsContext.auto_host_sni is not supported yet by Ferry")
        Fixture.expectOneError(Self.cluster("allow_renegotiation: true"), at: "allow_renegotiation",
                               path: "\(Self.clusterPath).allow_renegotiation", message: "allow_renegotiation: true is not supported yet")
    }

    @Test("values Envoy refuses or Ferry cannot serve are located errors")
    func badValues() {
        Fixture.expectOneError(Self.cluster("common_tls_context:\n  tls_params:\n    cipher_suites: [ECDHE-RSA-AES128-GCM-SHA265]"),
                               at: "ECDHE-RSA-AES128-GCM-SHA265", path: "\(Self.clusterPath).common_tls_context.tls_params.cipher_suites",
                               message: "unknown cipher suite \"ECDHE-RSA-AES128-GCM-SHA265\" (did you mean ECDHE-RSA-AES128-GCM-SHA256?)")
        Fixture.expectOneError(Self.cluster("common_tls_context:\n  tls_params: {tls_minimum_protocol_version: TLSv1_3, tls_maximum_protocol_version: TLSv1_2}"),
                               at: "TLSv1_3", path: "\(Self.clusterPath).common_tls_context.tls_params.tls_minimum_protocol_version",
                               message: "above the maximum")
        Fixture.expectOneError(Self.cluster("common_tls_context:\n  validation_context:\n    match_typed_subject_alt_names: [{san_type: DNS, matcher: {exact: a}}]"),
                               at: "match_typed_subject_alt_names", path: "\(Self.clusterPath).common_tls_context.validation_context.trusted_ca",
                               message: "without trusted_ca is insecure")
        Fixture.expectOneError(Self.cluster("sni: 127.0.0.1"), at: "127.0.0.1", after: "sni:", path: "\(Self.clusterPath).sni",
                               message: "\"127.0.0.1\" is not a host name")
        Fixture.expectOneError(Self.listener("require_client_certificate: false"), at: "\"@type\"", after: "transport_socket",
                               path: "\(Self.listenerPath).common_tls_context.tls_certificates", message: "needs a certificate")
        Fixture.expectOneError(Self.listener("common_tls_context: {}", type: "UpstreamTlsContext"), at: "\"@type\"", after: "transport_socket",
                               path: "\(Self.listenerPath).@type", message: "UpstreamTlsContext is not valid here")
        Fixture.expectOneError(Self.listener("", name: "envoy.transport_sockets.alts").replacingOccurrences(of: "tls.v3.DownstreamTlsContext", with: "alts.v3.Alts"),
                               at: "name: envoy.transport_sockets.alts", path: "static_resources.listeners[0].filter_chains[0].transport_socket.name",
                               message: "transport socket envoy.transport_sockets.alts")
    }

    @Test("forward_client_cert_details: SANITIZE by default, the forward-only modes read, the setting ones not supported yet")
    func forwardClientCert() throws {
        let hcm = try #require(Fixture.load(Fixture.bootstrap())?.listeners.first?.httpConnectionManager)
        #expect(hcm.forwardClientCertDetails == .sanitize)
        #expect(!ForwardClientCertDetails.sanitize.keepsHeader(mutualTLS: true))
        #expect(ForwardClientCertDetails.forwardOnly.keepsHeader(mutualTLS: true))
        #expect(!ForwardClientCertDetails.forwardOnly.keepsHeader(mutualTLS: false))
        #expect(ForwardClientCertDetails.alwaysForwardOnly.keepsHeader(mutualTLS: false))
        let forward = Fixture.load(Fixture.bootstrap(hcm: "forward_client_cert_details: ALWAYS_FORWARD_ONLY"))
        #expect(forward?.listeners.first?.httpConnectionManager?.forwardClientCertDetails == .alwaysForwardOnly)
        Fixture.expectOneError(Fixture.bootstrap(hcm: "forward_client_cert_details: APPEND_FORWARD"), at: "APPEND_FORWARD",
                               path: "\(Fixture.hcm).forward_client_cert_details", message: "APPEND_FORWARD is not supported yet by Ferry")
    }

    @Test("auto_sni on a cluster's upstream HTTP options is refused by name")
    func autoSNI() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + """

              typed_extension_protocol_options:
                envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                  "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                  upstream_http_protocol_options: {auto_sni: true}
                  explicit_http_config: {http_protocol_options: {}}
            """)
        Fixture.expectOneError(yaml, at: "auto_sni", path: "static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.upstream_http_protocol_options.auto_sni",
                               message: "UpstreamHttpProtocolOptions.auto_sni is not supported yet by Ferry")
    }
}
