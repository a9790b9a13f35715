/// `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`: a token bucket per
/// process (or per downstream connection) in front of the router; requests without a token get
/// a local reply (429 by default). Both the listener-level filter and per-route entries use it.
public struct LocalRateLimitConfig: Sendable {
    /// `envoy.type.v3.TokenBucket`: starts full; refills `tokensPerFill` per `fillInterval`,
    /// continuously (as Envoy 1.40's atomic bucket), up to `maxTokens`.
    public struct TokenBucket: Sendable, Equatable {
        public var maxTokens: UInt32
        public var tokensPerFill: UInt32
        public var fillInterval: Duration

        public init(maxTokens: UInt32, tokensPerFill: UInt32 = 1, fillInterval: Duration) {
            self.maxTokens = maxTokens
            self.tokensPerFill = tokensPerFill
            self.fillInterval = fillInterval
        }

        static func decode(_ r: ObjectReader) -> TokenBucket? {
            defer { r.finish() }
            let max = r.uint32("max_tokens", in: 1...Int64(UInt32.max), fix: "set max_tokens to the burst size, at least 1")
            if max == nil && !r.has("max_tokens") {
                r.diagnostics.error(r.node.location, r.join("max_tokens"), "required field is missing", fix: "add `max_tokens: 100`")
            }
            let perFill = r.uint32("tokens_per_fill", in: 1...Int64(UInt32.max), fix: "add at least one token per fill") ?? 1
            let interval = r.duration("fill_interval", positive: true, fix: "use a duration such as `1s`")
            if interval == nil && !r.has("fill_interval") {
                r.diagnostics.error(r.node.location, r.join("fill_interval"), "required field is missing", fix: "add `fill_interval: 1s`")
            }
            // Envoy refuses fill intervals under 50 ms.
            if let interval, interval < .milliseconds(50) {
                r.diagnostics.error(r.valueLocation(of: "fill_interval"), r.join("fill_interval"),
                                    "fill_interval must be at least 50ms (as in Envoy)",
                                    fix: "use 50ms or more, and scale tokens_per_fill to keep the rate")
            }
            guard let max, let interval else { return nil }
            return TokenBucket(maxTokens: max, tokensPerFill: perFill, fillInterval: interval)
        }
    }

    public var statPrefix: String
    public var status: Int = 429
    /// nil: no limit at this level (Envoy then lets every request through).
    public var tokenBucket: TokenBucket?
    /// Unset in config: the filter is off (0%), as Envoy.
    public var filterEnabled = RuntimeFractionalPercent(.none)
    /// Unset in config: shadow mode (0% enforced), as Envoy.
    public var filterEnforced = RuntimeFractionalPercent(.none)
    public var requestHeadersToAddWhenNotEnforced: [HeaderValueOption] = []
    public var responseHeadersToAdd: [HeaderValueOption] = []
    public var perDownstreamConnection = false
    /// `enable_x_ratelimit_headers: DRAFT_VERSION_03`: x-ratelimit-limit/-remaining/-reset on
    /// every response the filter saw.
    public var xRateLimitHeaders = false
    /// Descriptors with their own buckets, matched against the request's descriptors.
    public var descriptors: [Descriptor] = []
    /// The filter's own `rate_limits`; when set (and there are descriptors), the route's and
    /// virtual host's are not used.
    public var rateLimits: [RouteRateLimit] = []
    /// Route-level `rate_limits` entries of this stage apply (0...10).
    public var stage: UInt32 = 0
    public var vhRateLimits: VhRateLimits = .override
    /// Take a token from `token_bucket` too when a descriptor matched (Envoy's default: true).
    public var alwaysConsumeDefaultTokenBucket = true
    /// Buckets kept per wildcard descriptor (least recently used dropped beyond it); default 20.
    public var maxDynamicDescriptors: UInt32 = 20

    public init(statPrefix: String) { self.statPrefix = statPrefix }

    public enum XRateLimitHeaders: String, ConfigEnum {
        case off = "OFF", draftVersion03 = "DRAFT_VERSION_03"
        public var protoNumber: Int { self == .off ? 0 : 1 }
    }

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish() }
        guard let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: http_local_rate_limiter` (stats are <stat_prefix>.http_local_rate_limit.*)") else {
            r.skipRemaining()
            return nil
        }
        var config = LocalRateLimitConfig(statPrefix: prefix)
        if let status = r.object("status", "envoy.type.v3.HttpStatus") {
            defer { status.finish() }
            if let code = HttpStatusCode.read(status, "code") { config.status = code }
        }
        config.tokenBucket = r.object("token_bucket", "envoy.type.v3.TokenBucket").flatMap(TokenBucket.decode)
        if let enabled = r.runtimeFraction("filter_enabled") { config.filterEnabled = enabled }
        if let enforced = r.runtimeFraction("filter_enforced") { config.filterEnforced = enforced }
        config.requestHeadersToAddWhenNotEnforced = r.objects("request_headers_to_add_when_not_enforced", "envoy.config.core.v3.HeaderValueOption")
            .compactMap(HeaderValueOption.decode)
        config.responseHeadersToAdd = r.objects("response_headers_to_add", "envoy.config.core.v3.HeaderValueOption")
            .compactMap(HeaderValueOption.decode)
        config.perDownstreamConnection = r.bool("local_rate_limit_per_downstream_connection") ?? false
        config.xRateLimitHeaders = r.enumeration("enable_x_ratelimit_headers", XRateLimitHeaders.self) == .draftVersion03
        decodeDescriptors(r, into: &config)
        if r.bool("enable_retry_after_header") == true {
            r.diagnostics.error(r.location(of: "enable_retry_after_header"), r.join("enable_retry_after_header"),
                                "LocalRateLimit.enable_retry_after_header is not supported yet by Ferry", fix: "remove it")
        }
        if r.bool("rate_limited_as_resource_exhausted") == true {
            r.diagnostics.error(r.location(of: "rate_limited_as_resource_exhausted"), r.join("rate_limited_as_resource_exhausted"),
                                "LocalRateLimit.rate_limited_as_resource_exhausted is not supported yet by Ferry (gRPC status mapping arrives with gRPC)",
                                fix: "remove it")
        }
        return .localRateLimit(config)
    }
}

/// `envoy.type.v3.HttpStatus.code`: a number or an Envoy `StatusCode` name, 400–599 for replies.
enum HttpStatusCode {
    static let names: [String: Int] = [
        "BadRequest": 400, "Unauthorized": 401, "PaymentRequired": 402, "Forbidden": 403, "NotFound": 404,
        "MethodNotAllowed": 405, "NotAcceptable": 406, "RequestTimeout": 408, "Conflict": 409, "Gone": 410,
        "PreconditionFailed": 412, "PayloadTooLarge": 413, "UnprocessableEntity": 422, "Locked": 423, "TooEarly": 425,
        "TooManyRequests": 429, "InternalServerError": 500, "NotImplemented": 501, "BadGateway": 502,
        "ServiceUnavailable": 503, "GatewayTimeout": 504, "InsufficientStorage": 507,
    ]

    static func read(_ r: ObjectReader, _ key: String) -> Int? {
        guard let text = r.string(key) else { return nil }
        if let code = Int(text), (400...599).contains(code) { return code }
        if let code = names[text] { return code }
        let suggestion = Suggestion.closest(to: text, in: names.keys)
        r.diagnostics.error(r.valueLocation(of: key), r.join(key), "\"\(text)\" is not an HTTP error status"
                                + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                            fix: "use a status from 400 to 599, e.g. `code: 429` or `code: TooManyRequests`")
        return nil
    }
}
