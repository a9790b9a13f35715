/// `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
public struct HttpConnectionManager: Sendable {
    public static let typeURL = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

    public enum CodecType: String, ConfigEnum {
        case auto = "AUTO", http1 = "HTTP1", http2 = "HTTP2", http3 = "HTTP3"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public enum ServerHeaderTransformation: String, ConfigEnum {
        case overwrite = "OVERWRITE", appendIfAbsent = "APPEND_IF_ABSENT", passThrough = "PASS_THROUGH"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public enum EscapedSlashesAction: String, ConfigEnum {
        case implementationSpecificDefault = "IMPLEMENTATION_SPECIFIC_DEFAULT"
        case keepUnchanged = "KEEP_UNCHANGED"
        case rejectRequest = "REJECT_REQUEST"
        case unescapeAndRedirect = "UNESCAPE_AND_REDIRECT"
        case unescapeAndForward = "UNESCAPE_AND_FORWARD"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public enum UnderscoresAction: String, ConfigEnum {
        case allow = "ALLOW", rejectRequest = "REJECT_REQUEST", dropHeader = "DROP_HEADER"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public var codecType: CodecType = .auto
    /// `http2_protocol_options`, for connections that speak HTTP/2.
    public var http2Options = Http2ProtocolOptions()
    public var statPrefix: String
    public var routeConfig = RouteConfiguration()
    public var httpFilters: [HttpFilter] = []
    public var localReplyConfig: LocalReplyConfig?
    public var useRemoteAddress = false
    public var xffNumTrustedHops: UInt32 = 0
    public var skipXffAppend = false
    /// Which downstream addresses are internal; none by default (Envoy 1.40).
    public var internalAddressConfig = InternalAddressConfig()
    public var via: String?
    /// `server` header value (Ferry's default is "ferry"; Envoy's is "envoy").
    public var serverName = "ferry"
    public var serverHeaderTransformation: ServerHeaderTransformation = .overwrite
    public var generateRequestID = true
    public var preserveExternalRequestID = false
    public var alwaysSetRequestIDInResponse = false
    /// Downstream connection idle timeout (Envoy default 1 hour); zero disables it.
    public var idleTimeout: Duration = .seconds(3600)
    public var maxHeadersCount: UInt32 = 100
    public var maxRequestHeadersKb: UInt32 = 60
    public var maxRequestsPerConnection: UInt32?
    public var headersWithUnderscoresAction: UnderscoresAction = .allow
    /// Envoy default 5 minutes; zero disables it.
    public var streamIdleTimeout: Duration = .seconds(300)
    /// Whole-request timeout; zero (the default) disables it.
    public var requestTimeout: Duration = .zero
    /// `common_http_protocol_options.max_stream_duration`: caps every stream (a route's
    /// `max_stream_duration` overrides it); nil when unset or zero.
    public var maxStreamDuration: Duration?
    /// Time allowed to receive the request headers; zero (the default) disables it.
    public var requestHeadersTimeout: Duration = .zero
    /// Grace period between a soft drain and closing (Envoy default 5 s).
    public var drainTimeout: Duration = .seconds(5)
    public var normalizePath = false
    public var mergeSlashes = false
    public var pathWithEscapedSlashesAction: EscapedSlashesAction = .implementationSpecificDefault
    public var stripMatchingHostPort = false
    public var stripAnyHostPort = false
    public var stripTrailingHostDot = false
    public var appendXForwardedPort = false
    /// `forward_client_cert_details` (ForwardClientCertDetails.swift); SANITIZE removes XFCC.
    public var forwardClientCertDetails: ForwardClientCertDetails = .sanitize
    public var upgradeConfigs: [UpgradeConfig] = []
    public var accessLogs: [AccessLog] = []
    /// HTTP/1.0 requests are refused with 426 unless enabled (as Envoy).
    public var acceptHTTP10 = false
    public var defaultHostForHTTP10: String?
    /// Requests with an absolute URI (`GET http://host/path`) are accepted (as Envoy's default for HTTP/1).
    public var allowAbsoluteURL = true
    /// What an invalid HTTP/1 request costs when the connection could carry on (a missing Host,
    /// a path that fails normalization): false (Envoy's default) closes the connection after the
    /// 400, true keeps it when the whole request was read. From
    /// `http_protocol_options.override_stream_error_on_invalid_http_message`, else the manager's
    /// `stream_error_on_invalid_http_message`. Malformed framing always closes (nothing after it
    /// can be read reliably). HTTP/2's counterpart is `http2Options.streamErrorOnInvalidHTTPMessaging`.
    public var http1StreamErrorOnInvalidMessage = false
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(statPrefix: String) { self.statPrefix = statPrefix }

    static func decode(_ r: ObjectReader, context: DecodeContext) -> HttpConnectionManager? {
        defer { r.finish() }
        let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: ingress_http` (it names this manager's stats)")
        var hcm = HttpConnectionManager(statPrefix: prefix ?? "")
        hcm.location = r.node.location
        hcm.path = r.path
        if let codec = r.enumeration("codec_type", CodecType.self) {
            if codec == .http3 {
                r.diagnostics.error(r.valueLocation(of: "codec_type"), r.join("codec_type"),
                                    "codec_type HTTP3 is not supported yet by Ferry", fix: "use AUTO, HTTP1 or HTTP2")
            }
            hcm.codecType = codec
        }
        switch r.oneOf(["route_config", "rds", "scoped_routes"], required: true, what: "route specifier") {
        case "route_config":
            if let rc = r.object("route_config", "envoy.config.route.v3.RouteConfiguration") {
                hcm.routeConfig = RouteConfiguration.decode(rc, context: context)
            }
        default: break
        }
        hcm.httpFilters = HttpFilter.decodeChain(r.objects("http_filters", "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter"),
                                                 at: r.valueLocation(of: "http_filters"), path: r.join("http_filters"), diagnostics: r.diagnostics)
        if let lrc = r.object("local_reply_config", "envoy.extensions.filters.network.http_connection_manager.v3.LocalReplyConfig") {
            hcm.localReplyConfig = LocalReplyConfig.decode(lrc, context: context)
        }
        hcm.useRemoteAddress = r.bool("use_remote_address") ?? false
        hcm.xffNumTrustedHops = r.uint32("xff_num_trusted_hops") ?? 0
        hcm.skipXffAppend = r.bool("skip_xff_append") ?? false
        if let addresses = r.object("internal_address_config",
                                   "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.InternalAddressConfig") {
            hcm.internalAddressConfig = InternalAddressConfig.decode(addresses)
        }
        hcm.via = r.string("via").flatMap { $0.isEmpty ? nil : $0 }
        if let name = r.string("server_name") { hcm.serverName = name }
        hcm.serverHeaderTransformation = r.enumeration("server_header_transformation", ServerHeaderTransformation.self) ?? .overwrite
        hcm.generateRequestID = r.bool("generate_request_id") ?? true
        hcm.preserveExternalRequestID = r.bool("preserve_external_request_id") ?? false
        hcm.alwaysSetRequestIDInResponse = r.bool("always_set_request_id_in_response") ?? false
        if let common = r.object("common_http_protocol_options", "envoy.config.core.v3.HttpProtocolOptions") {
            defer { common.finish() }
            if let idle = common.duration("idle_timeout") { hcm.idleTimeout = idle }
            if let count = common.uint32("max_headers_count", in: 1...Int64(UInt32.max)) { hcm.maxHeadersCount = count }
            hcm.maxRequestsPerConnection = common.uint32("max_requests_per_connection").flatMap { $0 == 0 ? nil : $0 }
            hcm.maxStreamDuration = common.duration("max_stream_duration").flatMap { $0 == .zero ? nil : $0 }
            hcm.headersWithUnderscoresAction = common.enumeration("headers_with_underscores_action", UnderscoresAction.self) ?? .allow
        }
        // The per-protocol overrides win over the manager's field, which wins over HTTP/2's
        // deprecated stream_error_on_invalid_http_messaging (Envoy's order).
        let streamError = r.bool("stream_error_on_invalid_http_message")
        hcm.http1StreamErrorOnInvalidMessage = streamError ?? false
        if let http1 = r.object("http_protocol_options", "envoy.config.core.v3.Http1ProtocolOptions") {
            defer { http1.finish() }
            if let override = http1.bool("override_stream_error_on_invalid_http_message") { hcm.http1StreamErrorOnInvalidMessage = override }
            hcm.acceptHTTP10 = http1.bool("accept_http_10") ?? false
            hcm.defaultHostForHTTP10 = http1.string("default_host_for_http_10")
            hcm.allowAbsoluteURL = http1.bool("allow_absolute_url") ?? true
        }
        if let http2 = r.object("http2_protocol_options", "envoy.config.core.v3.Http2ProtocolOptions") {
            hcm.http2Options = Http2ProtocolOptions.decode(http2, streamErrorOnInvalidHTTPMessage: streamError)
        } else if let streamError {
            hcm.http2Options.streamErrorOnInvalidHTTPMessaging = streamError
        }
        if let kb = r.uint32("max_request_headers_kb", in: 1...8192) { hcm.maxRequestHeadersKb = kb }
        if let t = r.duration("stream_idle_timeout") { hcm.streamIdleTimeout = t }
        if let t = r.duration("request_timeout") { hcm.requestTimeout = t }
        if let t = r.duration("request_headers_timeout") { hcm.requestHeadersTimeout = t }
        if let t = r.duration("drain_timeout") { hcm.drainTimeout = t }
        hcm.normalizePath = r.bool("normalize_path") ?? false
        hcm.mergeSlashes = r.bool("merge_slashes") ?? false
        hcm.pathWithEscapedSlashesAction = r.enumeration("path_with_escaped_slashes_action", EscapedSlashesAction.self)
            ?? .implementationSpecificDefault
        if r.has("strip_matching_host_port") && r.has("strip_any_host_port") {
            r.diagnostics.error(r.location(of: "strip_any_host_port"), r.join("strip_any_host_port"),
                                "strip_matching_host_port and strip_any_host_port cannot both be set", fix: "keep one")
        }
        hcm.stripMatchingHostPort = r.bool("strip_matching_host_port") ?? false
        hcm.stripAnyHostPort = r.bool("strip_any_host_port") ?? false
        hcm.stripTrailingHostDot = r.bool("strip_trailing_host_dot") ?? false
        hcm.appendXForwardedPort = r.bool("append_x_forwarded_port") ?? false
        hcm.forwardClientCertDetails = ForwardClientCertDetails.decode(r)
        hcm.upgradeConfigs = r.objects("upgrade_configs", "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig")
            .compactMap { UpgradeConfig.decode($0, allowFilters: true) }
        hcm.accessLogs = r.objects("access_log", "envoy.config.accesslog.v3.AccessLog").compactMap { AccessLog.decode($0, context: context) }
        return prefix == nil ? nil : hcm
    }
}
