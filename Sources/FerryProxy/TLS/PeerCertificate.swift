import FerryConfig
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What Ferry reads from a peer's (already verified) leaf certificate: its subject alternative
/// names by type, and its subject in RFC 2253 form (as Envoy's `%DOWNSTREAM_PEER_SUBJECT%`).
struct PeerCertificate {
    var names: [(type: SubjectAltNameMatcher.SanType, value: String)] = []
    var subject = ""

    init(_ certificate: NIOSSLCertificate) {
        for name in certificate._subjectAlternativeNames() {
            let bytes = name.contents.withUnsafeBufferPointer { Array($0) }
            switch name.nameType {
            case .dnsName: names.append((.dns, String(decoding: bytes, as: UTF8.self)))
            case .uri: names.append((.uri, String(decoding: bytes, as: UTF8.self)))
            case .email: names.append((.email, String(decoding: bytes, as: UTF8.self)))
            case .ipAddress: if let ip = Self.ipText(bytes) { names.append((.ipAddress, ip)) }
            default: break
            }
        }
        subject = certificate.subjectName.reversed().map { "\(Self.shortName($0.type))=\(Self.escape($0.value))" }
            .joined(separator: ",")
    }

    /// Envoy's rule: the certificate passes when any SAN matches any matcher of its type (or no matchers).
    func matches(_ matchers: [SubjectAltNameMatcher]) -> Bool {
        matchers.isEmpty || matchers.contains { m in names.contains { $0.type == m.sanType && m.matches($0.value) } }
    }

    /// URI SANs joined with "," (`%DOWNSTREAM_PEER_URI_SAN%`).
    var uriSANs: String? {
        let uris = names.filter { $0.type == .uri }.map(\.value)
        return uris.isEmpty ? nil : uris.joined(separator: ",")
    }

    static func ipText(_ bytes: [UInt8]) -> String? {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return nil }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func shortName(_ type: SSLCertificateNameType) -> String {
        switch type {
        case .commonName: "CN"
        case .organization: "O"
        case .organizationalUnit: "OU"
        case .country: "C"
        case .state: "ST"
        case .city: "L"
        case .emailAddress: "emailAddress"
        case .userId: "UID"
        default: "?"
        }
    }

    /// RFC 2253 escaping of an attribute value.
    private static func escape(_ value: String) -> String {
        var out = ""
        for (i, ch) in value.enumerated() {
            if ",+\"\\<>;".contains(ch) || (i == 0 && (ch == "#" || ch == " ")) { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}

/// A downstream connection's TLS facts, taken once after its handshake.
final class DownstreamTLSInfo {
    /// "TLSv1.3", as Envoy's `%DOWNSTREAM_TLS_VERSION%`.
    let version: String?
    let peerURISANs: String?
    let peerSubject: String?
    /// The client presented a certificate (verified by the handshake).
    let mutualTLS: Bool
    let negotiatedProtocol: String?

    init(version: TLSVersion?, peer: PeerCertificate?, negotiatedProtocol: String?) {
        self.version = version.map(Self.name)
        peerURISANs = peer?.uriSANs
        peerSubject = peer?.subject
        mutualTLS = peer != nil
        self.negotiatedProtocol = negotiatedProtocol
    }

    static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}
