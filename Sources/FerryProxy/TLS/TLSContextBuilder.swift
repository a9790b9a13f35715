import FerryConfig
import NIOSSL

/// A certificate, key or setting that could not be loaded, located in the config.
struct TLSConfigError: Error {
    let location: SourceLocation
    let path: String
    let message: String
    let fix: String
}

/// Turns a TLS context of the config into a swift-nio-ssl `NIOSSLContext` (built once per
/// configuration generation, and again when a certificate file changes). Every PEM is parsed
/// here, so a bad certificate, a missing key or a key that does not match its certificate is a
/// located config error at load time and at `--mode validate`.
enum TLSContextBuilder {
    /// Envoy's default TLS 1.2 cipher list (TLS 1.3 suites are fixed by BoringSSL).
    static let envoyDefaultCiphers = "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]:"
        + "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
    static let curves: [String: NIOTLSCurve] = [
        "X25519": .x25519, "P-256": .secp256r1, "P-384": .secp384r1, "P-521": .secp521r1, "X25519MLKEM768": .x25519_MLKEM768,
    ]

    static func server(_ tls: DownstreamTlsContext) throws(TLSConfigError) -> NIOSSLContext {
        var configuration = try base(tls.common, server: true)
        if tls.common.validation?.trustedCA != nil {
            configuration.certificateVerification = tls.requireClientCertificate ? .noHostnameVerification : .optionalVerification
        }
        return try context(configuration, tls.common)
    }

    static func client(_ tls: UpstreamTlsContext) throws(TLSConfigError) -> NIOSSLContext {
        var configuration = try base(tls.common, server: false)
        configuration.certificateVerification = tls.common.validation?.trustedCA == nil ? .none : .noHostnameVerification
        return try context(configuration, tls.common)
    }

    private static func base(_ common: CommonTlsContext, server: Bool) throws(TLSConfigError) -> TLSConfiguration {
        var c = TLSConfiguration.makeClientConfiguration()
        c.certificateVerification = .none
        if let certificate = common.certificate {
            let chain = try certificates(certificate.certificateChain)
            c.certificateChain = chain.map { .certificate($0) }
            c.privateKey = .privateKey(try privateKey(certificate.privateKey))
        }
        if let ca = common.validation?.trustedCA { c.trustRoots = .certificates(try certificates(ca)) }
        let versions = common.parameters.versions(server: server)
        c.minimumTLSVersion = version(versions.minimum)
        c.maximumTLSVersion = version(versions.maximum)
        c.cipherSuites = common.parameters.cipherSuites.isEmpty ? envoyDefaultCiphers : common.parameters.cipherSuites.joined(separator: ":")
        let curveNames = common.parameters.ecdhCurves.isEmpty ? ["X25519", "P-256"] : common.parameters.ecdhCurves
        c.curves = curveNames.compactMap { curves[$0] }
        c.applicationProtocols = common.alpnProtocols
        c.renegotiationSupport = .none
        return c
    }

    private static func version(_ v: TlsParameters.TlsProtocol) -> TLSVersion {
        switch v {
        case .v1_0: .tlsv1
        case .v1_1: .tlsv11
        case .v1_2, .auto: .tlsv12
        case .v1_3: .tlsv13
        }
    }

    private static func context(_ configuration: TLSConfiguration, _ common: CommonTlsContext) throws(TLSConfigError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            let text = "\(error)"
            // The key parsed on its own; BoringSSL refuses it only when it is not the certificate's.
            let mismatch = (error as? NIOSSLError) == .failedToLoadPrivateKey || text.contains("KEY_VALUES_MISMATCH")
                || text.contains("KEY_TYPE_MISMATCH")
            if mismatch, let key = common.certificate?.privateKey {
                throw TLSConfigError(location: key.location, path: key.path, message: "the private key does not match the certificate",
                                     fix: "give the key the certificate was issued for (compare `openssl x509 -noout -pubkey` with `openssl pkey -pubout`)")
            }
            throw TLSConfigError(location: common.location, path: common.path, message: "cannot set up TLS: \(text)",
                                 fix: "check the certificate, key and tls_params")
        }
    }

    static func certificates(_ data: LocatedDataSource) throws(TLSConfigError) -> [NIOSSLCertificate] {
        let parsed: [NIOSSLCertificate]
        do {
            parsed = try NIOSSLCertificate.fromPEMBytes(data.source.bytes)
        } catch {
            throw TLSConfigError(location: data.location, path: data.path, message: "\(describe(data)) is not a valid PEM certificate (\(error))",
                                 fix: "give PEM text starting with -----BEGIN CERTIFICATE-----")
        }
        guard !parsed.isEmpty else {
            throw TLSConfigError(location: data.location, path: data.path, message: "\(describe(data)) holds no PEM certificate",
                                 fix: "give PEM text starting with -----BEGIN CERTIFICATE-----")
        }
        return parsed
    }

    static func privateKey(_ data: LocatedDataSource) throws(TLSConfigError) -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(bytes: data.source.bytes, format: .pem)
        } catch {
            throw TLSConfigError(location: data.location, path: data.path, message: "\(describe(data)) is not a valid PEM private key (\(error))",
                                 fix: "give an unencrypted PEM key (-----BEGIN PRIVATE KEY----- or BEGIN EC/RSA PRIVATE KEY)")
        }
    }

    private static func describe(_ data: LocatedDataSource) -> String {
        if case .file(let path) = data.source.origin { return "file \"\(path)\"" }
        return "the inline value"
    }
}
