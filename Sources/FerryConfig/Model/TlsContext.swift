/// `envoy.transport_sockets.tls`: the TLS settings of a listener's filter chain
/// (`DownstreamTlsContext`) or of a cluster (`UpstreamTlsContext`), as Envoy's
/// `envoy.extensions.transport_sockets.tls.v3` messages. Certificates and keys are kept as bytes
/// (with where they came from, for errors and for reloading files); FerryProxy parses them when
/// it compiles the generation, so a bad PEM or a key that does not match is a located config error.

/// `DownstreamTlsContext`: TLS termination on a listener.
public struct DownstreamTlsContext: Sendable {
    public var common = CommonTlsContext()
    /// `require_client_certificate` (default false): refuse clients without a valid certificate.
    public var requireClientCertificate = false
    public var location: SourceLocation = .unknown
    public var path = ""

    public init() {}
}

/// `UpstreamTlsContext`: TLS origination to a cluster's endpoints.
public struct UpstreamTlsContext: Sendable {
    public var common = CommonTlsContext()
    /// `sni`: the server name sent in the ClientHello; none when empty (as Envoy).
    public var sni: String?
    public var location: SourceLocation = .unknown
    public var path = ""

    public init() {}
}

/// `CommonTlsContext`.
public struct CommonTlsContext: Sendable {
    public var parameters = TlsParameters()
    /// `tls_certificates`: at most one in Ferry (the server's certificate, or the client's for mTLS).
    public var certificate: TlsCertificate?
    public var validation: CertificateValidationContext?
    /// `alpn_protocols`; empty = no ALPN (as Envoy).
    public var alpnProtocols: [String] = []
    public var location: SourceLocation = .unknown
    public var path = ""

    public init() {}
}

/// A `DataSource` with the place it was configured, for errors and file reloads.
public struct LocatedDataSource: Sendable {
    public var source: DataSource
    public var location: SourceLocation
    public var path: String

    public init(source: DataSource, location: SourceLocation = .unknown, path: String = "") {
        self.source = source
        self.location = location
        self.path = path
    }
}

/// `TlsCertificate`: a PEM chain (leaf first) and its PEM private key.
public struct TlsCertificate: Sendable {
    public var certificateChain: LocatedDataSource
    public var privateKey: LocatedDataSource

    public init(certificateChain: LocatedDataSource, privateKey: LocatedDataSource) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

/// `TlsParameters`.
public struct TlsParameters: Sendable {
    /// `TlsParameters.TlsProtocol`; TLS_AUTO is "the default": minimum TLSv1_2, maximum
    /// TLSv1_3 for servers and TLSv1_2 for clients (Envoy's defaults).
    public enum TlsProtocol: String, ConfigEnum, Comparable {
        case auto = "TLS_AUTO", v1_0 = "TLSv1_0", v1_1 = "TLSv1_1", v1_2 = "TLSv1_2", v1_3 = "TLSv1_3"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
        public static func < (a: Self, b: Self) -> Bool { a.protoNumber < b.protoNumber }
    }

    public var minimumVersion: TlsProtocol = .auto
    public var maximumVersion: TlsProtocol = .auto
    /// BoringSSL cipher names (`ECDHE-RSA-AES128-GCM-SHA256`, `[A|B]` groups); empty = default.
    public var cipherSuites: [String] = []
    /// `ecdh_curves` by Envoy's names (`X25519`, `P-256`, ...); empty = default.
    public var ecdhCurves: [String] = []

    public init() {}

    /// The effective range, TLS_AUTO resolved (`server` picks the maximum's default).
    public func versions(server: Bool) -> (minimum: TlsProtocol, maximum: TlsProtocol) {
        (minimumVersion == .auto ? .v1_2 : minimumVersion,
         maximumVersion == .auto ? (server ? .v1_3 : .v1_2) : maximumVersion)
    }
}

/// `CertificateValidationContext`: how the peer's certificate is checked.
public struct CertificateValidationContext: Sendable {
    /// `trusted_ca`: PEM CA certificates; without it a peer certificate is not verified (as Envoy).
    public var trustedCA: LocatedDataSource?
    /// `match_typed_subject_alt_names`, or the deprecated `match_subject_alt_names` turned into
    /// one matcher per SAN type (as Envoy). Any match accepts the certificate.
    public var subjectAltNameMatchers: [SubjectAltNameMatcher] = []
    /// `trusted_ca` was written (even if it failed to load and was reported), so checks that
    /// need it do not report a second error.
    var trustedCAWritten = false

    public init() {}
}

/// `SubjectAltNameMatcher`.
public struct SubjectAltNameMatcher: Sendable {
    public enum SanType: String, ConfigEnum {
        case unspecified = "SAN_TYPE_UNSPECIFIED", email = "EMAIL", dns = "DNS", uri = "URI", ipAddress = "IP_ADDRESS"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public var sanType: SanType
    public var matcher: StringMatcher

    public init(sanType: SanType, matcher: StringMatcher) {
        self.sanType = sanType
        self.matcher = matcher
    }

    /// Whether a SAN of this matcher's type matches. A DNS SAN that is a wildcard (`*.example.com`)
    /// matches an exact matcher naming one host under it, as Envoy's `dnsNameMatch`.
    public func matches(_ value: String) -> Bool {
        if matcher.matches(value) { return true }
        guard sanType == .dns, case .exact(let name) = matcher.kind, value.hasPrefix("*.") else { return false }
        let wanted = matcher.ignoreCase ? name : name.lowercased()
        guard let dot = wanted.firstIndex(of: ".") else { return false }
        return wanted[dot...] == value.dropFirst().lowercased() && dot != wanted.startIndex
    }
}
