import FerryTestKit
import Foundation

/// Certificates and configs shared by the TLS integration tests: one CA per test (made with
/// `openssl`), a server certificate for localhost/127.0.0.1, and client certificates carrying
/// SPIFFE URI SANs.
struct TLSFixture {
    let ca: TestCertificates
    let server: TestCertificates.Issued
    let client: TestCertificates.Issued
    /// Signed by the same CA, with a SAN no matcher accepts.
    let stranger: TestCertificates.Issued

    static let clientID = "spiffe://cluster.local/ns/default/sa/foo"

    static func make() throws -> TLSFixture {
        let ca = try TestCertificates.makeAuthority()
        return TLSFixture(ca: ca, server: try ca.issue("server", dns: ["localhost", "backend.local"], ips: ["127.0.0.1"]),
                          client: try ca.issue("client", commonName: "foo", uris: [clientID]),
                          stranger: try ca.issue("stranger", uris: ["spiffe://cluster.local/ns/other/sa/bar"]))
    }

    /// The fields of a DownstreamTlsContext serving `server`; `extra` goes under common_tls_context.
    func downstream(requireClient: Bool = false, sans: [String] = [], common extra: String = "") -> String {
        var yaml = requireClient ? "require_client_certificate: true\n" : ""
        yaml += "common_tls_context:\n  tls_certificates:\n"
        yaml += "  - certificate_chain: {filename: \(server.certificatePath)}\n    private_key: {filename: \(server.keyPath)}\n"
        if requireClient || !sans.isEmpty { yaml += validation(sans: sans, type: "URI") }
        if !extra.isEmpty { yaml += extra.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n" }
        return yaml
    }

    /// `validation_context` (at common_tls_context level) trusting the CA, with SAN matchers.
    func validation(sans: [String], type: String) -> String {
        var yaml = "  validation_context:\n    trusted_ca: {filename: \(ca.caPath)}\n"
        if !sans.isEmpty {
            yaml += "    match_typed_subject_alt_names:\n"
            for san in sans { yaml += "    - {san_type: \(type), matcher: {exact: \"\(san)\"}}\n" }
        }
        return yaml
    }

    /// A bootstrap with a TLS listener (`tls`: DownstreamTlsContext fields) in front of `routes`.
    static func bootstrap(tls: String, routes: String, clusters: [(String, [Int])] = [], hcmExtra: String = "",
                          clusterExtra: String = "") -> String {
        TestCertificates.withListenerTLS(
            TestConfig.bootstrap(routes: routes, clusters: clusters, hcmExtra: hcmExtra, clusterExtra: clusterExtra),
            TestCertificates.transportSocket(downstream: true, tls))
    }

    /// `curl` over HTTPS with this CA, optionally presenting `identity`.
    func curl(_ url: String, as identity: TestCertificates.Issued? = nil, _ more: [String] = []) async throws -> Curl.Result {
        var args = ["--cacert", ca.caPath]
        if let identity { args += ["--cert", identity.certificatePath, "--key", identity.keyPath] }
        return try await Curl.perform(args + more + [url], timeout: 10)
    }

    /// `openssl s_client` against 127.0.0.1:`port`: its output (handshake summary) after sending nothing.
    func sClient(port: Int, _ arguments: [String]) async throws -> String {
        let result = try await ChildProcess.run(
            "/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", ca.caPath] + arguments,
            stdin: Data(), timeout: 10)
        return result.stdout + result.stderr
    }
}
