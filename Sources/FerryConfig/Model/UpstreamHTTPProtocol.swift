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

/// `envoy.config.core.v3.Http2ProtocolOptions`: the subset Ferry's HTTP/2 client implements,
/// with Envoy's defaults and bounds.
public struct Http2ProtocolOptions: Sendable, Equatable {
    /// Streams Ferry opens at once on one connection; the peer's SETTINGS_MAX_CONCURRENT_STREAMS
    /// lowers it further (default 2147483647, range 1...2147483647).
    public var maxConcurrentStreams: UInt32 = 2_147_483_647
    /// SETTINGS_INITIAL_WINDOW_SIZE Ferry announces (default 268435456, range 65535...2147483647).
    public var initialStreamWindowSize: UInt32 = 268_435_456
    /// The connection's receive window (default 268435456, range 65535...2147483647).
    public var initialConnectionWindowSize: UInt32 = 268_435_456
    /// SETTINGS_HEADER_TABLE_SIZE Ferry announces (default 4096).
    public var hpackTableSize: UInt32 = 4096
    /// `connection_keepalive`: a PING every interval; no answer within timeout closes the connection.
    public var keepalive: Keepalive?

    /// `envoy.config.core.v3.KeepaliveSettings`.
    public struct Keepalive: Sendable, Equatable {
        public var interval: Duration
        public var timeout: Duration
        /// `interval_jitter` in percent (Envoy's default 15): each interval grows by up to this much.
        public var jitterPercent: Double = 15
    }

    public init() {}

    static func decode(_ r: ObjectReader) -> Http2ProtocolOptions {
        defer { r.finish() }
        var options = Http2ProtocolOptions()
        let window: ClosedRange<Int64> = 65535...2_147_483_647
        if let n = r.uint32("max_concurrent_streams", in: 1...2_147_483_647, fix: "use a count from 1 to 2147483647") {
            options.maxConcurrentStreams = n
        }
        if let n = r.uint32("initial_stream_window_size", in: window, fix: "use a size from 65535 to 2147483647") {
            options.initialStreamWindowSize = n
        }
        if let n = r.uint32("initial_connection_window_size", in: window, fix: "use a size from 65535 to 2147483647") {
            options.initialConnectionWindowSize = n
        }
        if let n = r.uint32("hpack_table_size") { options.hpackTableSize = n }
        if let k = r.object("connection_keepalive", "envoy.config.core.v3.KeepaliveSettings") {
            options.keepalive = decodeKeepalive(k)
        }
        return options
    }

    private static func decodeKeepalive(_ k: ObjectReader) -> Keepalive? {
        defer { k.finish() }
        let interval = k.duration("interval")
        let timeout = k.duration("timeout")
        if let timeout, timeout < .milliseconds(1) {
            k.diagnostics.error(k.valueLocation(of: "timeout"), k.join("timeout"), "must be at least 1ms",
                                fix: "use a timeout such as 5s")
            return nil
        }
        guard let timeout else {
            k.diagnostics.error(k.node.location, k.join("timeout"), "connection_keepalive needs a timeout",
                                fix: "add `timeout: 5s`")
            return nil
        }
        guard let interval, interval >= .milliseconds(1) else {
            // Envoy sends no periodic PING without an interval; only connection_idle_interval would.
            k.diagnostics.error(k.location(of: "interval"), k.join("interval"),
                                "connection_keepalive without an interval of at least 1ms is not supported yet by Ferry",
                                fix: "add `interval: 30s`")
            return nil
        }
        var keepalive = Keepalive(interval: interval, timeout: timeout)
        if let jitter = k.object("interval_jitter", "envoy.type.v3.Percent") {
            defer { jitter.finish(known: ["value"]) }
            if let value = jitter.double("value", in: 0...100, fix: "use a percentage between 0 and 100 (default 15)") {
                keepalive.jitterPercent = value
            }
        }
        return keepalive
    }
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
            cluster.upstreamProtocol.http2 = Http2ProtocolOptions.decode(http2)
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
            o.diagnostics.error(o.location(of: kind), o.join(kind),
                                "HttpProtocolOptions.auto_config is not supported yet by Ferry",
                                fix: "use explicit_http_config with http2_protocol_options (or http_protocol_options)")
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
        cluster.upstreamProtocol.http2 = Http2ProtocolOptions.decode(http2)
        cluster.upstreamProtocol.selection = .http2
    }
}
