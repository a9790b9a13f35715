/// `ferry.filters.http.rate_limit.v1.RateLimit`: Ferry's rate limit filter, with the choice of
/// algorithm, keys built from request descriptors, per-key overrides and a bound on tracked keys.
/// The same type is the listener-level filter config and a route's typed_per_filter_config.
public struct RateLimitConfig: Sendable {
    public enum Algorithm: String, ConfigEnum {
        case tokenBucket = "TOKEN_BUCKET", fixedWindow = "FIXED_WINDOW", slidingWindow = "SLIDING_WINDOW"
        case leakyBucket = "LEAKY_BUCKET", concurrency = "CONCURRENCY"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    /// One budget: the algorithm's parameters (what an override replaces).
    public struct Budget: Sendable, Equatable {
        /// FIXED_WINDOW, SLIDING_WINDOW: requests per window; CONCURRENCY: requests in flight.
        public var limit: Int = 0
        public var window: Duration = .zero
        public var granularity: Duration = .zero
        /// TOKEN_BUCKET.
        public var maxTokens = 0
        public var tokensPerFill = 1
        public var fillInterval: Duration = .zero
        /// LEAKY_BUCKET: `rate` requests per `per`, `burst` may wait.
        public var rate = 0
        public var per: Duration = .seconds(1)
        public var burst = 0
        /// LEAKY_BUCKET `delayed_admission` (listener or route level only).
        public var delayedAdmission = false
    }

    /// Where a key part comes from.
    public enum Descriptor: Sendable, Equatable {
        case remoteAddress
        case header(name: String, skipIfAbsent: Bool)
        case path
        case queryParameter(name: String, skipIfAbsent: Bool)
        case route
    }

    /// GLOBAL: a Redis server shared by many Ferry processes holds the budget.
    public struct Redis: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 6379
        public var username: String?
        public var password: String?
        public var database: Int?
        /// Per decision; a slower answer counts as Redis being unreachable.
        public var timeout: Duration = .milliseconds(100)
        /// Redis unreachable: reject (500, flag RLSE) instead of letting requests through.
        public var failureModeDeny = false
        public var keyPrefix = "ferry:ratelimit:"
        /// CONCURRENCY: a lease not released (a crashed process) frees itself after this.
        public var leaseTTL: Duration = .seconds(60)
    }

    public var statPrefix: String
    public var algorithm: Algorithm
    /// nil: LOCAL scope (one process, all its loops).
    public var redis: Redis?
    public var budget: Budget
    /// LEAKY_BUCKET: requests over the rate wait their turn (true) or, false, only those that
    /// fit with no wait go at once and the queue is only an allowance for bursts.
    public var delayedAdmission = false
    public var descriptors: [Descriptor] = []
    /// Budgets for particular keys (the descriptor values joined with `|`).
    public var overrides: [String: Budget] = [:]
    public var maxKeys = 10_000
    /// Unset: long enough for any key's limiter to forget (see `defaultIdleTimeout`).
    public var keyIdleTimeout: Duration?
    public var status = 429
    public var filterEnabled = RuntimeFractionalPercent.always
    public var filterEnforced = RuntimeFractionalPercent.always
    /// Add RateLimit-* headers to the responses of admitted requests too.
    public var headersOnSuccess = false

    public init(statPrefix: String, algorithm: Algorithm, budget: Budget) {
        self.statPrefix = statPrefix
        self.algorithm = algorithm
        self.budget = budget
    }

    /// How long a key's limiter needs to return to a full budget.
    public var defaultIdleTimeout: Duration {
        var longest = Duration.seconds(1)
        for b in [budget] + overrides.values {
            switch algorithm {
            case .fixedWindow: longest = max(longest, b.window)
            case .slidingWindow: longest = max(longest, b.window + b.granularity)
            case .tokenBucket: longest = max(longest, b.fillInterval * ((b.maxTokens + b.tokensPerFill - 1) / max(b.tokensPerFill, 1)))
            case .leakyBucket: longest = max(longest, b.per * (b.burst + 1) / max(b.rate, 1))
            case .concurrency: break
            }
        }
        return longest
    }

    public static let messageName = "ferry.filters.http.rate_limit.v1.RateLimit"

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer {
            r.finish(known: ["stat_prefix", "algorithm", "limit", "window", "granularity", "token_bucket", "leaky_bucket",
                             "descriptors", "overrides", "max_keys", "key_idle_timeout", "status", "filter_enabled",
                             "filter_enforced", "headers_on_success", "scope", "redis"])
        }
        let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: api` (stats are <stat_prefix>.rate_limit.*)")
        guard let algorithm = r.enumeration("algorithm", Algorithm.self) else {
            if !r.has("algorithm") {
                r.diagnostics.error(r.node.location, r.join("algorithm"), "required field is missing",
                                    fix: "add `algorithm:` one of \(Algorithm.allNames)")
            }
            r.skipRemaining()
            return nil
        }
        guard let budget = decodeBudget(r, algorithm: algorithm) else {
            r.skipRemaining()
            return nil
        }
        var config = RateLimitConfig(statPrefix: prefix ?? "", algorithm: algorithm, budget: budget)
        config.delayedAdmission = budget.delayedAdmission
        config.descriptors = r.list("descriptors").compactMap { item in
            ObjectReader(item.node, path: item.path, message: "", diagnostics: r.diagnostics).flatMap(decodeDescriptor)
        }
        for item in r.objects("overrides", "") {
            defer { item.finish(known: ["key", "limit", "window", "granularity", "token_bucket", "leaky_bucket"]) }
            guard let key = item.requiredString("key", fix: "add `key:` the descriptor values joined with |, e.g. `key: tenant-a`") else {
                item.skipRemaining()
                continue
            }
            if config.descriptors.isEmpty {
                item.diagnostics.error(item.location(of: "key"), item.join("key"), "overrides need descriptors to build keys from",
                                       fix: "add `descriptors:` (e.g. `- header: {name: x-api-key}`)")
            }
            if let b = decodeBudget(item, algorithm: algorithm, defaults: budget) { config.overrides[key] = b }
        }
        if let n = r.integer("max_keys", in: 1...10_000_000, fix: "track between 1 and 10,000,000 keys") { config.maxKeys = Int(n) }
        config.keyIdleTimeout = r.duration("key_idle_timeout", positive: true, fix: "use a duration such as `10m`")
        if let status = r.object("status", "envoy.type.v3.HttpStatus") {
            defer { status.finish() }
            if let code = HttpStatusCode.read(status, "code") { config.status = code }
        }
        if let enabled = r.runtimeFraction("filter_enabled") { config.filterEnabled = enabled }
        if let enforced = r.runtimeFraction("filter_enforced") { config.filterEnforced = enforced }
        config.headersOnSuccess = r.bool("headers_on_success") ?? false
        let scope = r.string("scope") ?? "LOCAL"
        switch scope {
        case "LOCAL":
            if r.has("redis") {
                r.accept("redis")
                r.diagnostics.error(r.location(of: "redis"), r.join("redis"), "redis is only used with `scope: GLOBAL`",
                                    fix: "add `scope: GLOBAL`, or remove redis")
            }
        case "GLOBAL":
            guard let reader = r.object("redis", "") else {
                r.diagnostics.error(r.location(of: "scope"), r.join("redis"), "scope GLOBAL needs a redis server",
                                    fix: "add `redis: {host: 127.0.0.1, port: 6379}`")
                return nil
            }
            config.redis = decodeRedis(reader)
        default:
            r.diagnostics.error(r.valueLocation(of: "scope"), r.join("scope"), "unknown scope \"\(scope)\"",
                                fix: "use LOCAL (this process) or GLOBAL (shared through Redis)")
        }
        return .rateLimit(config)
    }
}

extension RateLimitConfig {
    /// Reads the algorithm's parameters at `r`'s level; `defaults` fills what an override omits.
    static func decodeBudget(_ r: ObjectReader, algorithm: Algorithm, defaults: Budget? = nil) -> Budget? {
        var b = defaults ?? Budget()
        let isOverride = defaults != nil
        func missing(_ key: String, _ fix: String) {
            r.diagnostics.error(r.node.location, r.join(key), "\(algorithm.protoName) needs \(key)", fix: fix)
        }
        // Parameters of other algorithms are mistakes, not options to ignore.
        let owned: [Algorithm: Set<String>] = [
            .fixedWindow: ["limit", "window"], .slidingWindow: ["limit", "window", "granularity"], .concurrency: ["limit"],
            .tokenBucket: ["token_bucket"], .leakyBucket: ["leaky_bucket"],
        ]
        for key in ["limit", "window", "granularity", "token_bucket", "leaky_bucket"] where r.has(key) && !owned[algorithm]!.contains(key) {
            r.accept(key)
            r.diagnostics.error(r.location(of: key), r.join(key), "\(key) does not apply to algorithm \(algorithm.protoName)",
                                fix: "remove it, or choose the algorithm it belongs to")
        }
        switch algorithm {
        case .fixedWindow, .slidingWindow, .concurrency:
            if let limit = r.integer("limit", in: 0...Int64(Int32.max), fix: "use a whole number of requests") { b.limit = Int(limit) }
            else if !isOverride && !r.has("limit") { missing("limit", "add `limit: 100`") }
            guard algorithm != .concurrency else { break }
            if let window = r.duration("window", positive: true, fix: "use a duration such as `1s`") { b.window = window }
            else if !isOverride && !r.has("window") { missing("window", "add `window: 1s`") }
            guard algorithm == .slidingWindow else { break }
            if let g = r.duration("granularity", positive: true, fix: "use a duration such as `100ms`") { b.granularity = g }
            else if !r.has("granularity") && (b.granularity == .zero || b.window != defaults?.window) { b.granularity = b.window / 10 }
            let w = b.window.components, g = b.granularity.components
            let wn = w.seconds * 1_000_000_000 + w.attoseconds / 1_000_000_000
            let gn = g.seconds * 1_000_000_000 + g.attoseconds / 1_000_000_000
            if wn > 0 && (gn <= 0 || wn % gn != 0) {
                r.diagnostics.error(r.has("granularity") ? r.valueLocation(of: "granularity") : r.node.location, r.join("granularity"),
                                    "the window must be a whole number of granularity steps (\(b.window) / \(b.granularity))",
                                    fix: "pick a granularity that divides the window, e.g. window 1s with granularity 100ms")
                return nil
            }
        case .tokenBucket:
            if let t = r.object("token_bucket", "envoy.type.v3.TokenBucket"), let bucket = LocalRateLimitConfig.TokenBucket.decode(t) {
                b.maxTokens = Int(bucket.maxTokens)
                b.tokensPerFill = Int(bucket.tokensPerFill)
                b.fillInterval = bucket.fillInterval
            } else if !isOverride && !r.has("token_bucket") {
                missing("token_bucket", "add `token_bucket: {max_tokens: 100, tokens_per_fill: 100, fill_interval: 1s}`")
            } else if !isOverride || r.has("token_bucket") {
                return nil
            }
        case .leakyBucket:
            guard let l = r.object("leaky_bucket", "") else {
                if !isOverride { missing("leaky_bucket", "add `leaky_bucket: {rate: 100, per: 1s, burst: 20}`") }
                return isOverride ? b : nil
            }
            defer { l.finish(known: isOverride ? ["rate", "per", "burst"] : ["rate", "per", "burst", "delayed_admission"]) }
            if let rate = l.integer("rate", in: 1...1_000_000_000, fix: "use at least 1 request per `per`") { b.rate = Int(rate) }
            else if !l.has("rate") && !isOverride { missing("leaky_bucket.rate", "add `rate: 100`") }
            if let per = l.duration("per", positive: true, fix: "use a duration such as `1s`") { b.per = per }
            if let burst = l.integer("burst", in: 0...10_000_000, fix: "use a whole number of waiting requests") { b.burst = Int(burst) }
            if !isOverride { b.delayedAdmission = l.bool("delayed_admission") ?? false }
            if b.rate == 0 { return nil }
        }
        return b
    }

    static func decodeDescriptor(_ r: ObjectReader) -> Descriptor? {
        defer { r.finish(known: ["remote_address", "header", "path", "query_parameter", "route"]) }
        switch r.oneOf(["remote_address", "header", "path", "query_parameter", "route"], required: true, what: "descriptor") {
        case "remote_address": r.accept("remote_address"); return .remoteAddress
        case "path": r.accept("path"); return .path
        case "route": r.accept("route"); return .route
        case "header", "query_parameter":
            let key = r.has("header") ? "header" : "query_parameter"
            guard let inner = r.object(key, "") else { return nil }
            defer { inner.finish(known: ["name", "skip_if_absent"]) }
            guard let name = inner.requiredString("name", fix: "name the \(key == "header" ? "header" : "query parameter"), e.g. `name: x-api-key`")
            else { return nil }
            let skip = inner.bool("skip_if_absent") ?? false
            return key == "header" ? .header(name: name.lowercased(), skipIfAbsent: skip) : .queryParameter(name: name, skipIfAbsent: skip)
        default: return nil
        }
    }
}

extension RateLimitConfig {
    /// A `redis` block; `leases` says whether `lease_ttl` applies (CONCURRENCY rate limits).
    static func decodeRedis(_ r: ObjectReader, leases: Bool = true, defaultPrefix: String = "ferry:ratelimit:") -> Redis {
        defer {
            r.finish(known: Set(["host", "port", "username", "password", "database", "timeout", "failure_mode_deny", "key_prefix"]
                                 + (leases ? ["lease_ttl"] : [])))
        }
        var redis = Redis()
        redis.keyPrefix = defaultPrefix
        if let host = r.string("host") { redis.host = host }
        if let port = r.integer("port", in: 1...65535, fix: "use a TCP port, e.g. 6379") { redis.port = Int(port) }
        redis.username = r.string("username")
        redis.password = r.string("password")
        redis.database = r.integer("database", in: 0...1_000_000, fix: "use a Redis database number").map { Int($0) }
        if let t = r.duration("timeout", positive: true, fix: "use a duration such as `100ms`") { redis.timeout = t }
        redis.failureModeDeny = r.bool("failure_mode_deny") ?? false
        if let prefix = r.string("key_prefix") { redis.keyPrefix = prefix }
        if leases, let ttl = r.duration("lease_ttl", positive: true, fix: "use a duration such as `60s`") { redis.leaseTTL = ttl }
        return redis
    }
}
