/// Which HTTP codec a cluster speaks to its endpoints, from
/// `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`
/// (`explicit_http_config`, `use_downstream_protocol_config`, `auto_config`) or the deprecated
/// cluster field `http2_protocol_options`. Default: HTTP/1.1, as Envoy.
public struct UpstreamHTTPProtocol: Sendable, Equatable {
    public enum Selection: Sendable, Equatable {
        /// `explicit_http_config.http_protocol_options` (or nothing configured).
        case http1
        /// `explicit_http_config.http2_protocol_options`, or the cluster's deprecated field.
        case http2
        /// `use_downstream_protocol_config`: the stream's downstream protocol picks the codec.
        case downstream
        /// `auto_config`: ALPN (`h2`, `http/1.1`) decides per connection; needs upstream TLS.
        case auto
    }

    public var selection: Selection = .http1
    /// The HTTP/2 settings used whenever a connection speaks HTTP/2.
    public var http2 = Http2ProtocolOptions()

    public init() {}

    /// True when some connection of the cluster may speak HTTP/2.
    public var mayUseHTTP2: Bool { selection != .http1 }
}

extension UpstreamHTTPProtocol {
    /// The protocol selection of one `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`.
    static func decodeSelection(_ o: ObjectReader, tls: Bool, into cluster: inout Cluster) {
        let versions: Set<String> = ["http_protocol_options", "http2_protocol_options", "http3_protocol_options"]
        guard let kind = o.oneOf(["explicit_http_config", "use_downstream_protocol_config", "auto_config"], required: false,
                                 what: "protocol selection") else { return }
        let message = switch kind {
        case "explicit_http_config": "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig"
        case "use_downstream_protocol_config": "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.UseDownstreamHttpConfig"
        default: "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.AutoHttpConfig"
        }
        guard let c = o.object(kind, message) else { return }
        defer { c.finish(known: kind == "auto_config" ? versions.union(["alternate_protocols_cache_options"]) : versions) }
        if let http1 = c.object("http_protocol_options", "envoy.config.core.v3.Http1ProtocolOptions") { http1.finish() }
        if let http2 = c.object("http2_protocol_options", "envoy.config.core.v3.Http2ProtocolOptions") {
            cluster.upstreamProtocol.http2 = Http2ProtocolOptions.decode(http2, upstream: true)
        }
        switch kind {
        case "explicit_http_config":
            if c.has("http2_protocol_options") {
                cluster.upstreamProtocol.selection = .http2
            } else if !c.has("http_protocol_options") && !c.has("http3_protocol_options") {
                o.diagnostics.error(o.location(of: kind), o.join(kind), "explicit_http_config names no protocol",
                                    fix: "add `http_protocol_options: {}` or `http2_protocol_options: {}`")
            }
        case "use_downstream_protocol_config":
            cluster.upstreamProtocol.selection = .downstream
        default:
            // Envoy: "ALPN configured for cluster X which has a non-ALPN transport socket".
            guard tls else {
                return o.diagnostics.error(o.location(of: kind), o.join(kind),
                                           "auto_config chooses the protocol by ALPN, which needs a TLS transport_socket",
                                           fix: "add an UpstreamTlsContext transport_socket, or use explicit_http_config")
            }
            cluster.upstreamProtocol.selection = .auto
        }
    }

    /// The deprecated cluster field `http2_protocol_options`: HTTP/2 to every endpoint.
    static func decodeDeprecatedHTTP2(_ r: ObjectReader, typedOptions: Bool, into cluster: inout Cluster) {
        guard let http2 = r.object("http2_protocol_options", "envoy.config.core.v3.Http2ProtocolOptions") else { return }
        if typedOptions {
            // Envoy silently ignores the legacy field then; Ferry never ignores a field.
            r.diagnostics.error(r.location(of: "http2_protocol_options"), r.join("http2_protocol_options"),
                                "http2_protocol_options has no effect next to typed_extension_protocol_options (Envoy ignores it)",
                                fix: "move it under explicit_http_config of the HttpProtocolOptions entry")
            return http2.skipRemaining()
        }
        cluster.upstreamProtocol.http2 = Http2ProtocolOptions.decode(http2, upstream: true)
        cluster.upstreamProtocol.selection = .http2
    }
}
