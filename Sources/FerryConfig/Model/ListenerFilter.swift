/// `envoy.config.listener.v3.ListenerFilter`: runs on an accepted connection before a filter
/// chain is chosen. Ferry has one: `envoy.filters.listener.tls_inspector`.
public enum ListenerFilter: Sendable, Equatable {
    /// Reads the TLS ClientHello (without consuming it) for the SNI and ALPN, and sets the
    /// transport protocol to `tls` or `raw_buffer`. No settings: every field of Envoy's
    /// `TlsInspector` message (JA3/JA4, buffer sizes) is refused as not supported yet.
    case tlsInspector

    public static let tlsInspectorName = "envoy.filters.listener.tls_inspector"
    static let tlsInspectorType = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"

    static func decode(_ f: ObjectReader) -> ListenerFilter? {
        defer { f.finish() }
        let name = f.requiredString("name", fix: "name the listener filter, e.g. envoy.filters.listener.tls_inspector") ?? ""
        let typed = f.any("typed_config")
        guard name == tlsInspectorName || name == "envoy.listener.tls_inspector" || typed?.typeURL.hasSuffix("/" + tlsInspectorType) == true
        else {
            f.diagnostics.error(f.location(of: "name"), f.join("name"),
                                "listener filter \(name) is not supported yet by Ferry",
                                fix: "remove it; Ferry supports \(tlsInspectorName) only (see docs/compatibility.md)")
            typed?.reader.accept(contentsOf: typed?.reader.keys ?? [])
            f.skipRemaining()
            return nil
        }
        if let (url, config) = typed {
            defer { config.finish() }
            if !url.hasSuffix("/" + tlsInspectorType) {
                f.diagnostics.error(f.valueLocation(of: "typed_config"), f.join("typed_config.@type"),
                                    "\(name) needs typed_config of type \(tlsInspectorType), found \(url)",
                                    fix: "write \"@type\": type.googleapis.com/\(tlsInspectorType)")
                config.accept(contentsOf: config.keys)
                return nil
            }
        }
        return .tlsInspector
    }
}
