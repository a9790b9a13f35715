/// `ferry.filters.http.idempotency.v1.Idempotency`: the `Idempotency-Key` request header (IETF
/// httpapi draft "The Idempotency-Key HTTP Header Field"). A request of one of `methods` with a
/// key runs once; a duplicate while it runs gets 409, a later duplicate the stored response
/// (with `idempotent-replayed: true`), the same key with another request 422.
public struct IdempotencyConfig: Sendable, Equatable {
    public var statPrefix: String
    /// The key header (lower-cased; default `idempotency-key`).
    public var headerName = "idempotency-key"
    /// Methods the filter applies to (default POST and PATCH).
    public var methods: [String] = ["POST", "PATCH"]
    /// A header whose value also scopes keys (e.g. `authorization`: one client cannot replay
    /// another's response). Unset: keys are scoped per route only.
    public var scopeHeader: String?
    /// How long a stored response is replayed (default 24 h).
    public var ttl: Duration = .seconds(86_400)
    /// How long a key may stay in flight before a duplicate may run again (default 60 s).
    public var inFlightTimeout: Duration = .seconds(60)
    /// Keys remembered at once, in flight or stored (default 10000).
    public var maxEntries = 10_000
    /// Bytes of stored responses at once (default 64 MiB).
    public var maxStoredBytes = 64 << 20
    /// Largest response body stored; a larger response is not stored (default 64 KiB).
    public var maxResponseBytes = 64 << 10
    /// Largest request body buffered for the fingerprint; larger requests get 413 (default 1 MiB).
    public var maxRequestBytes = 1 << 20
    public var filterEnabled = RuntimeFractionalPercent.always
    /// At 0% (shadow mode) duplicates are counted and run again instead of being answered.
    public var filterEnforced = RuntimeFractionalPercent.always

    /// Keys in a Redis server shared by many Ferry instances instead of this process
    /// (`failure_mode_deny`: Redis unreachable answers 503 instead of running unprotected).
    public var redis: RateLimitConfig.Redis?

    public init(statPrefix: String) { self.statPrefix = statPrefix }

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish() }
        let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: orders` (stats are <stat_prefix>.idempotency.*)")
        var config = IdempotencyConfig(statPrefix: prefix ?? "")
        var valid = prefix != nil
        if r.has("header_name") {
            if let name = r.requiredString("header_name", fix: "name the header, e.g. `header_name: idempotency-key`") {
                config.headerName = name.lowercased()
            } else {
                valid = false
            }
        }
        if r.has("methods") {
            let methods = r.strings("methods")
            for m in methods where m.value.isEmpty || m.value != m.value.uppercased() || m.value.contains(" ") {
                r.diagnostics.error(m.location, r.join("methods"), "\"\(m.value)\" is not an HTTP method token",
                                    fix: "write methods in upper case, e.g. `methods: [POST, PATCH]`")
                valid = false
            }
            if methods.isEmpty {
                r.diagnostics.error(r.valueLocation(of: "methods"), r.join("methods"), "methods is empty, so the filter would never apply",
                                    fix: "list the methods to protect, e.g. `methods: [POST]`, or remove the filter")
                valid = false
            }
            config.methods = methods.map(\.value)
        }
        if r.has("scope_header") {
            if let name = r.requiredString("scope_header", fix: "name a header such as `scope_header: authorization`") {
                config.scopeHeader = name.lowercased()
            } else {
                valid = false
            }
        }
        func duration(_ key: String, _ keep: inout Duration) {
            if let d = r.duration(key, positive: true, fix: "use a positive duration such as `\(key): 60s`") { keep = d } else if r.has(key) { valid = false }
        }
        duration("ttl", &config.ttl)
        duration("in_flight_timeout", &config.inFlightTimeout)
        func integer(_ key: String, _ range: ClosedRange<Int64>, _ keep: inout Int) {
            if let n = r.integer(key, in: range) { keep = Int(n) } else if r.has(key) { valid = false }
        }
        integer("max_entries", 1...10_000_000, &config.maxEntries)
        integer("max_stored_bytes", 0...(1 << 40), &config.maxStoredBytes)
        integer("max_response_bytes", 0...(1 << 30), &config.maxResponseBytes)
        integer("max_request_bytes", 0...(1 << 30), &config.maxRequestBytes)
        if config.maxResponseBytes > config.maxStoredBytes {
            r.diagnostics.error(r.location(of: "max_response_bytes"), r.join("max_response_bytes"),
                                "max_response_bytes (\(config.maxResponseBytes)) exceeds max_stored_bytes (\(config.maxStoredBytes)), so such responses could never be stored",
                                fix: "raise max_stored_bytes or lower max_response_bytes")
            valid = false
        }
        if let enabled = r.runtimeFraction("filter_enabled") { config.filterEnabled = enabled }
        if let enforced = r.runtimeFraction("filter_enforced") { config.filterEnforced = enforced }
        if let redis = r.object("redis", "") {
            config.redis = RateLimitConfig.decodeRedis(redis, leases: false, defaultPrefix: "ferry:idempotency:")
        }
        return valid ? .idempotency(config) : nil
    }
}
