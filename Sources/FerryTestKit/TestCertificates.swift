import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway certificate authority made with the `openssl` CLI (P-256 keys, two-day
/// validity) in a private temporary directory, for TLS integration tests: a CA, then leaves
/// with DNS, IP and URI (SPIFFE) subject alternative names and a chosen serial number.
public struct TestCertificates: Sendable {
    public let directory: URL
    public let name: String
    /// The CA certificate (PEM), to give as `trusted_ca` or `curl --cacert`.
    public let caPath: String
    let caKeyPath: String

    /// A certificate and its key, as PEM files.
    public struct Issued: Sendable {
        public let certificatePath: String
        public let keyPath: String
        public let serial: Int
    }

    /// A new CA called `name` in its own directory (or in `directory`).
    public static func makeAuthority(name: String = "ca", in directory: URL? = nil) throws -> TestCertificates {
        let dir = try directory ?? TemporaryDirectory.make(prefix: "tls")
        let ca = TestCertificates(directory: dir, name: name, caPath: dir.appendingPathComponent("\(name).pem").path,
                                  caKeyPath: dir.appendingPathComponent("\(name).key").path)
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", ca.caKeyPath, "-out", ca.caPath, "-days", "2", "-subj", "/O=Ferry Tests/CN=\(name)",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return ca
    }

    /// A leaf signed by this CA. `file` names its files (`file.pem`, `file.key`); writing over
    /// an earlier leaf's files is how tests rotate certificates.
    public func issue(_ file: String, commonName: String? = nil, dns: [String] = [], ips: [String] = [], uris: [String] = [],
                      serial: Int = Int.random(in: 1000...999_999)) throws -> Issued {
        let cert = directory.appendingPathComponent("\(file).pem").path
        let key = directory.appendingPathComponent("\(file).key").path
        let csr = directory.appendingPathComponent("\(file).csr").path
        let ext = directory.appendingPathComponent("\(file).ext").path
        let names = dns.map { "DNS:\($0)" } + ips.map { "IP:\($0)" } + uris.map { "URI:\($0)" }
        var extensions = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            + "extendedKeyUsage=serverAuth,clientAuth\n"
        if !names.isEmpty { extensions += "subjectAltName=" + names.joined(separator: ",") + "\n" }
        try extensions.write(toFile: ext, atomically: true, encoding: .utf8)
        // New files appear by rename, as certificate rotation tools do, so a reader never sees half a PEM.
        let tmpKey = key + ".tmp", tmpCert = cert + ".tmp"
        try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", tmpKey,
                          "-out", csr, "-subj", "/O=Ferry Tests/CN=\(commonName ?? file)"])
        try Self.openssl(["x509", "-req", "-in", csr, "-CA", caPath, "-CAkey", caKeyPath, "-set_serial", String(serial),
                          "-days", "2", "-extfile", ext, "-out", tmpCert])
        guard rename(tmpKey, key) == 0, rename(tmpCert, cert) == 0 else { throw ChildProcessError("cannot rename into \(cert)") }
        return Issued(certificatePath: cert, keyPath: key, serial: serial)
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }

    static func openssl(_ arguments: [String]) throws {
        let result = try Spawned.capture("/usr/bin/openssl", arguments)
        guard result.status == 0 else {
            throw ChildProcessError("openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: result.stderr, as: UTF8.self))")
        }
    }

    /// A transport socket for a listener's filter chain or a cluster, as YAML at field level.
    public static func transportSocket(downstream: Bool, _ body: String) -> String {
        let type = downstream ? "DownstreamTlsContext" : "UpstreamTlsContext"
        return "transport_socket:\n  name: envoy.transport_sockets.tls\n  typed_config:\n"
            + "    \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.\(type)\n"
            + body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
    }

    /// `yaml` (a `TestConfig` bootstrap) with `transportSocket` on its listener's filter chain.
    public static func withListenerTLS(_ yaml: String, _ transportSocket: String) -> String {
        let block = transportSocket.split(separator: "\n").enumerated()
            .map { $0.offset == 0 ? "    - " + $0.element : "      " + $0.element }.joined(separator: "\n")
        return yaml.replacingOccurrences(of: "    - filters:\n", with: block + "\n      filters:\n")
    }
}
