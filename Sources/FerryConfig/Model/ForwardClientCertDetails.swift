/// `HttpConnectionManager.forward_client_cert_details`: what happens to a request's
/// `x-forwarded-client-cert` (XFCC) header. Envoy's default, SANITIZE, removes it from every
/// request; FORWARD_ONLY keeps it only on mTLS connections; ALWAYS_FORWARD_ONLY always keeps it.
/// APPEND_FORWARD and SANITIZE_SET (which write this proxy's view of the client certificate, with
/// `set_current_client_cert_details`) are not supported yet.
public enum ForwardClientCertDetails: String, ConfigEnum {
    case sanitize = "SANITIZE", forwardOnly = "FORWARD_ONLY", appendForward = "APPEND_FORWARD"
    case sanitizeSet = "SANITIZE_SET", alwaysForwardOnly = "ALWAYS_FORWARD_ONLY"
    public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }

    /// Whether a request keeps its XFCC header; `mutualTLS`: the client presented a verified certificate.
    public func keepsHeader(mutualTLS: Bool) -> Bool {
        switch self {
        case .sanitize, .appendForward, .sanitizeSet: false
        case .forwardOnly: mutualTLS
        case .alwaysForwardOnly: true
        }
    }

    static func decode(_ r: ObjectReader) -> ForwardClientCertDetails {
        guard let mode = r.enumeration("forward_client_cert_details", Self.self) else { return .sanitize }
        if mode == .appendForward || mode == .sanitizeSet {
            r.diagnostics.error(r.valueLocation(of: "forward_client_cert_details"), r.join("forward_client_cert_details"),
                                "forward_client_cert_details \(mode.rawValue) is not supported yet by Ferry",
                                fix: "use SANITIZE (the default), FORWARD_ONLY or ALWAYS_FORWARD_ONLY")
        }
        return mode
    }
}
