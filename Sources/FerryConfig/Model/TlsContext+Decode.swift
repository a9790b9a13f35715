/// Decoding of `transport_socket` (listener filter chains and clusters) into the TLS contexts.
extension DownstreamTlsContext {
    static let typeURL = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"

    /// The `transport_socket` of a listener's filter chain: nil for plain TCP (absent or
    /// `envoy.transport_sockets.raw_buffer`), else its TLS context (nil after reporting errors).
    public static func decode(transportSocketOf chain: ObjectReader, context: DecodeContext) -> DownstreamTlsContext? {
        guard let r = TransportSocket.typedConfig(chain, expecting: typeURL) else { return nil }
        defer { r.finish() }
        var tls = DownstreamTlsContext()
        tls.location = r.node.location
        tls.path = r.path
        tls.requireClientCertificate = r.bool("require_client_certificate") ?? false
        let common = r.object("common_tls_context", CommonTlsContext.message)
        if let common { tls.common = CommonTlsContext.decode(common, context: context) }
        if common?.has("tls_certificates") != true {  // a certificate that failed to load was reported
            r.diagnostics.error(r.node.location, r.join("common_tls_context.tls_certificates"),
                                "a DownstreamTlsContext needs a certificate",
                                fix: "add tls_certificates with certificate_chain and private_key")
        }
        if tls.requireClientCertificate && tls.common.validation?.trustedCAWritten != true {
            r.diagnostics.error(r.location(of: "require_client_certificate"), r.join("require_client_certificate"),
                                "require_client_certificate without validation_context.trusted_ca is not supported yet by Ferry",
                                fix: "add validation_context.trusted_ca with the CA that issues client certificates")
        }
        return tls
    }
}

extension UpstreamTlsContext {
    static let typeURL = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

    /// A cluster's `transport_socket`: nil for plain TCP, else its TLS context.
    public static func decode(transportSocketOf cluster: ObjectReader, context: DecodeContext) -> UpstreamTlsContext? {
        guard let r = TransportSocket.typedConfig(cluster, expecting: typeURL) else { return nil }
        defer { r.finish() }
        var tls = UpstreamTlsContext()
        tls.location = r.node.location
        tls.path = r.path
        if let common = r.object("common_tls_context", CommonTlsContext.message) {
            tls.common = CommonTlsContext.decode(common, context: context)
        }
        if let sni = r.string("sni"), !sni.isEmpty {
            if sni.utf8.count > 255 || sni.contains(where: { $0 == " " || $0 == "/" }) || IPAddressBytes(sni) != nil {
                r.diagnostics.error(r.valueLocation(of: "sni"), r.join("sni"), "\"\(sni)\" is not a host name",
                                    fix: "write a DNS name of at most 255 bytes (TLS sends no IP address as SNI)")
            } else {
                tls.sni = sni
            }
        }
        if r.bool("allow_renegotiation") == true {
            r.diagnostics.error(r.location(of: "allow_renegotiation"), r.join("allow_renegotiation"),
                                "UpstreamTlsContext.allow_renegotiation: true is not supported yet by Ferry",
                                fix: "remove it (renegotiation stays refused, Envoy's default)")
        }
        return tls
    }
}

/// `envoy.config.core.v3.TransportSocket`.
enum TransportSocket {
    static let tlsNames: Set<String> = ["envoy.transport_sockets.tls", "tls"]
    static let plainNames: Set<String> = ["envoy.transport_sockets.raw_buffer", "raw_buffer"]

    /// Reads `transport_socket` of `owner`; nil when absent, plain, or in error (reported).
    static func typedConfig(_ owner: ObjectReader, expecting typeURL: String) -> ObjectReader? {
        guard let socket = owner.object("transport_socket", "envoy.config.core.v3.TransportSocket") else { return nil }
        defer { socket.finish() }
        let name = socket.requiredString("name", fix: "write `name: envoy.transport_sockets.tls`") ?? ""
        guard let (url, config) = socket.any("typed_config") else {
            if !socket.has("typed_config") && !plainNames.contains(name) {
                socket.diagnostics.error(socket.node.location, socket.join("typed_config"), "transport socket \(name) has no typed_config",
                                         fix: "add typed_config with \"@type\": type.googleapis.com/\(typeURL)")
            }
            return nil
        }
        let message = url.split(separator: "/").last.map(String.init) ?? url
        if plainNames.contains(name) || message == "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" {
            config.finish()
            return nil
        }
        guard tlsNames.contains(name) || message.hasPrefix("envoy.extensions.transport_sockets.tls.v3.") else {
            socket.diagnostics.error(socket.location(of: "name"), socket.join("name"),
                                     "transport socket \(name) (\(url)) is not supported yet by Ferry",
                                     fix: "use envoy.transport_sockets.tls, or remove transport_socket for plain TCP")
            config.accept(contentsOf: config.keys)
            return nil
        }
        guard message == typeURL else {
            socket.diagnostics.error(socket.valueLocation(of: "typed_config"), socket.join("typed_config.@type"),
                                     "\(url) is not valid here", fix: "use type.googleapis.com/\(typeURL)")
            config.accept(contentsOf: config.keys)
            return nil
        }
        return config
    }
}

extension CommonTlsContext {
    static let message = "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext"

    static func decode(_ r: ObjectReader, context: DecodeContext) -> CommonTlsContext {
        defer { r.finish() }
        var common = CommonTlsContext()
        common.location = r.node.location
        common.path = r.path
        if let params = r.object("tls_params", "envoy.extensions.transport_sockets.tls.v3.TlsParameters") {
            common.parameters = TlsParameters.decode(params)
        }
        let certificates = r.objects("tls_certificates", "envoy.extensions.transport_sockets.tls.v3.TlsCertificate")
        for (i, c) in certificates.enumerated() {
            let decoded = TlsCertificate.decode(c, context: context)
            if i == 0 { common.certificate = decoded }
        }
        if certificates.count > 1 {
            r.diagnostics.error(certificates[1].node.location, certificates[1].path,
                                "several tls_certificates (selection by SNI or key type) is not supported yet by Ferry",
                                fix: "keep one certificate")
        }
        if let validation = r.object("validation_context", "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext") {
            common.validation = CertificateValidationContext.decode(validation, context: context)
        }
        for (value, location) in r.strings("alpn_protocols") {
            if value.isEmpty || value.utf8.count > 255 {
                r.diagnostics.error(location, r.join("alpn_protocols"), "\"\(value)\" is not an ALPN protocol name",
                                    fix: "write a name of 1 to 255 bytes such as http/1.1")
            } else {
                common.alpnProtocols.append(value)
            }
        }
        return common
    }
}

extension TlsCertificate {
    static func decode(_ r: ObjectReader, context: DecodeContext) -> TlsCertificate? {
        defer { r.finish() }
        let chain = LocatedDataSource.decode(r, "certificate_chain", context: context)
        let key = LocatedDataSource.decode(r, "private_key", context: context)
        for (field, value) in [("certificate_chain", chain), ("private_key", key)] where value == nil && !r.has(field) {
            r.diagnostics.error(r.node.location, r.join(field), "a TLS certificate needs \(field)",
                                fix: "add `\(field): {filename: ...}` (PEM)")
        }
        guard let chain, let key else { return nil }
        return TlsCertificate(certificateChain: chain, privateKey: key)
    }
}

extension LocatedDataSource {
    static func decode(_ r: ObjectReader, _ key: String, context: DecodeContext) -> LocatedDataSource? {
        guard let reader = r.object(key, "envoy.config.core.v3.DataSource"),
              let source = DataSource.decode(reader, baseDirectory: context.baseDirectory) else { return nil }
        if source.bytes.isEmpty {
            r.diagnostics.error(r.valueLocation(of: key), r.join(key), "\(key) is empty", fix: "give the PEM text or a PEM file")
            return nil
        }
        return LocatedDataSource(source: source, location: r.valueLocation(of: key), path: r.join(key))
    }
}

extension TlsParameters {
    static func decode(_ r: ObjectReader) -> TlsParameters {
        defer { r.finish() }
        var p = TlsParameters()
        p.minimumVersion = r.enumeration("tls_minimum_protocol_version", TlsProtocol.self) ?? .auto
        p.maximumVersion = r.enumeration("tls_maximum_protocol_version", TlsProtocol.self) ?? .auto
        if p.minimumVersion != .auto && p.maximumVersion != .auto && p.minimumVersion > p.maximumVersion {
            r.diagnostics.error(r.valueLocation(of: "tls_minimum_protocol_version"), r.join("tls_minimum_protocol_version"),
                                "the minimum version \(p.minimumVersion.rawValue) is above the maximum \(p.maximumVersion.rawValue)",
                                fix: "lower tls_minimum_protocol_version or raise tls_maximum_protocol_version")
        }
        for (value, location) in r.strings("cipher_suites") {
            let names = value.hasPrefix("[") && value.hasSuffix("]")
                ? value.dropFirst().dropLast().split(separator: "|").map(String.init) : [value]
            if let bad = names.first(where: { !TlsNames.ciphers.contains($0) }) {
                let suggestion = Suggestion.closest(to: bad, in: TlsNames.ciphers).map { " (did you mean \($0)?)" } ?? ""
                r.diagnostics.error(location, r.join("cipher_suites"), "unknown cipher suite \"\(bad)\"\(suggestion)",
                                    fix: "use BoringSSL names for TLS 1.2 and below: \(TlsNames.ciphers.sorted().joined(separator: ", "))")
            } else {
                p.cipherSuites.append(value)
            }
        }
        for (value, location) in r.strings("ecdh_curves") {
            if TlsNames.curves.contains(value) {
                p.ecdhCurves.append(value)
            } else {
                r.diagnostics.error(location, r.join("ecdh_curves"), "unknown or unsupported curve \"\(value)\"",
                                    fix: "use one of \(TlsNames.curves.sorted().joined(separator: ", "))")
            }
        }
        return p
    }
}

extension CertificateValidationContext {
    static func decode(_ r: ObjectReader, context: DecodeContext) -> CertificateValidationContext {
        defer { r.finish() }
        var v = CertificateValidationContext()
        v.trustedCAWritten = r.has("trusted_ca")
        v.trustedCA = LocatedDataSource.decode(r, "trusted_ca", context: context)
        if let mode = r.string("trust_chain_verification"), mode != "VERIFY_TRUST_CHAIN", mode != "0" {
            r.diagnostics.error(r.valueLocation(of: "trust_chain_verification"), r.join("trust_chain_verification"),
                                "trust_chain_verification \(mode) is not supported yet by Ferry",
                                fix: "remove it (VERIFY_TRUST_CHAIN is the default)")
        }
        let typed = r.objects("match_typed_subject_alt_names", "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher")
        for m in typed {
            defer { m.finish() }
            let type = m.enumeration("san_type", SubjectAltNameMatcher.SanType.self)
            if type == nil || type == .unspecified {
                m.diagnostics.error(m.valueLocation(of: "san_type"), m.join("san_type"), "san_type is missing or unspecified",
                                    fix: "use DNS, URI, EMAIL or IP_ADDRESS")
            }
            let matcher = m.object("matcher", "envoy.type.matcher.v3.StringMatcher").flatMap(StringMatcher.decode)
            if matcher == nil && !m.has("matcher") {
                m.diagnostics.error(m.node.location, m.join("matcher"), "a SAN matcher needs matcher",
                                    fix: "add `matcher: {exact: ...}`")
            }
            if let type, type != .unspecified, let matcher { v.subjectAltNameMatchers.append(.init(sanType: type, matcher: matcher)) }
        }
        // The deprecated field applies to every SAN type, and only when the typed one is empty (as Envoy).
        let legacy = r.objects("match_subject_alt_names", "envoy.type.matcher.v3.StringMatcher").compactMap(StringMatcher.decode)
        if typed.isEmpty {
            for matcher in legacy {
                for type in [SubjectAltNameMatcher.SanType.dns, .uri, .email, .ipAddress] {
                    v.subjectAltNameMatchers.append(.init(sanType: type, matcher: matcher))
                }
            }
        }
        if !v.subjectAltNameMatchers.isEmpty && !v.trustedCAWritten {
            r.diagnostics.error(r.node.location, r.join("trusted_ca"),
                                "SAN-based verification of peer certificates without trusted_ca is insecure and not allowed (as in Envoy)",
                                fix: "add trusted_ca with the CA that issues the peer's certificates")
        }
        return v
    }
}

/// Names Ferry's TLS library (BoringSSL, through swift-nio-ssl) accepts.
public enum TlsNames {
    /// TLS 1.2-and-below cipher suites by BoringSSL/OpenSSL name (TLS 1.3 suites are not configurable).
    public static let ciphers: Set<String> = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
        "ECDHE-PSK-AES128-CBC-SHA", "ECDHE-PSK-AES256-CBC-SHA", "ECDHE-PSK-CHACHA20-POLY1305",
        "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "PSK-AES128-CBC-SHA", "PSK-AES256-CBC-SHA",
    ]
    /// `ecdh_curves` as Envoy spells them.
    public static let curves: Set<String> = ["X25519", "P-256", "P-384", "P-521", "X25519MLKEM768"]
}
