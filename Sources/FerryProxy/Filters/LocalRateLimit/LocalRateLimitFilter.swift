import FerryConfig
import FerryTelemetry
import NIOCore

/// One compiled `LocalRateLimit` (the listener's, or a route's): its buckets, shared by every
/// loop (or one set per downstream connection), and its stats `<stat_prefix>.http_local_rate_limit.*`.
final class LocalRateLimitRule: GovernanceState {
    let config: LocalRateLimitConfig
    /// The process-wide buckets (nil with per-connection buckets).
    let limiter: LocalRateLimiter?
    let enabled, enforced, ok, rateLimited: CounterID
    var kind: String { "local_ratelimit" }
    var statNames: [(label: String, name: String)] {
        ["enabled", "enforced", "ok", "rate_limited"].map { ($0, "\(config.statPrefix).http_local_rate_limit.\($0)") }
    }

    init(config: LocalRateLimitConfig, store: StatsStore) {
        self.config = config
        limiter = config.perDownstreamConnection ? nil : LocalRateLimiter(config: config, now: Int64(NIODeadline.now().uptimeNanoseconds))
        func c(_ name: String) -> CounterID { store.counter(.plain("\(config.statPrefix).http_local_rate_limit.\(name)")) }
        enabled = c("enabled")
        enforced = c("enforced")
        ok = c("ok")
        rateLimited = c("rate_limited")
        // Envoy 1.40 counts requests a descriptor in shadow mode let through; Ferry refuses
        // descriptor shadow mode, so this stays 0 as it does in Envoy without one.
        _ = c("shadow_mode")
    }

    /// The buckets this stream draws from: the shared ones, or its connection's own.
    func limiter(for stream: ActiveStream) -> LocalRateLimiter {
        if let limiter { return limiter }
        let key = ObjectIdentifier(self)
        if let existing = stream.connection.filterState[key] as? LocalRateLimiter { return existing }
        let made = LocalRateLimiter(config: config, now: Int64(stream.worker.now.uptimeNanoseconds))
        stream.connection.filterState[key] = made
        return made
    }

    func json(now: NIODeadline) -> String {
        var fields = ["\"kind\":\"local_ratelimit\"", "\"stat_prefix\":\(JSON.quote(config.statPrefix))",
                      "\"per_downstream_connection\":\(config.perDownstreamConnection)"]
        if let b = config.tokenBucket {
            fields.append("\"max_tokens\":\(b.maxTokens)")
            fields.append("\"tokens_per_second\":\(Double(b.tokensPerFill) / (Double(TimeAmount(b.fillInterval).nanoseconds) / 1e9))")
        }
        if let bucket = limiter?.defaultBucket { fields.append("\"tokens\":\(Int(bucket.available(now: Int64(now.uptimeNanoseconds))))") }
        if !config.descriptors.isEmpty { fields.append(limiter?.descriptorsJSON(now: now) ?? "\"descriptors\":\(config.descriptors.count)") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// `envoy.filters.http.local_ratelimit`, as Envoy 1.40: a request the filter is enabled for
/// takes a token; without one it is rate limited, and when enforced answered with the
/// configured status (429), body `local_rate_limited`, `response_headers_to_add` and flag RL.
/// Not enforced (shadow mode), it goes on with `request_headers_to_add_when_not_enforced`.
extension LocalRateLimitRule: FilterRule {
    static let filterKind = "a local_ratelimit"
    static let typeURL = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"

    static func config(in kind: HttpFilter.Kind) -> LocalRateLimitConfig? {
        if case .localRateLimit(let config) = kind { return config }
        return nil
    }

    /// Envoy: "local rate limit token bucket must be set for per filter configs".
    static func refusesRouteConfig(_ config: LocalRateLimitConfig, _ override: FilterOverride, context: FilterFactoryContext) -> Bool {
        guard config.tokenBucket == nil else { return false }
        context.diagnostics.error(override.location, "\(override.path).token_bucket",
                                  "a route's LocalRateLimit needs a token_bucket (as in Envoy)",
                                  fix: "add `token_bucket: {max_tokens: 10, fill_interval: 1s}`, or turn the filter off here with FilterConfig `disabled: true`")
        return true
    }

    func makeFilter(stateInStream _: Bool) -> StreamFilter { LocalRateLimitFilter(rule: self) }

    /// Without x-ratelimit headers the filter remembers nothing per stream.
    var sharesOneFilter: Bool { !config.xRateLimitHeaders }
}

final class LocalRateLimitFilter: StreamFilter {
    let rule: LocalRateLimitRule
    /// The bucket the x-ratelimit-* headers describe, when enable_x_ratelimit_headers is on.
    private var reported: AtomicTokenBucket?

    init(rule: LocalRateLimitRule) { self.rule = rule }

    var hooks: FilterHooks { rule.config.xRateLimitHeaders ? [.decodeHeaders, .encodeHeaders] : .decodeHeaders }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        guard worker.featureEnabled(rule.config.filterEnabled) else { return .proceed }
        let shard = worker.stats
        shard.inc(rule.enabled)
        // Descriptors cost something only when the filter has descriptors and the request rate limits.
        let descriptors = stream.localRateLimitDescriptors(rule)
        let decision = rule.limiter(for: stream).decide(descriptors, now: Int64(worker.now.uptimeNanoseconds))
        if rule.config.xRateLimitHeaders { reported = decision.reported }
        if decision.allowed {
            shard.inc(rule.ok)
            return .proceed
        }
        shard.inc(rule.rateLimited)
        guard worker.featureEnabled(rule.config.filterEnforced) else {
            if !rule.config.requestHeadersToAddWhenNotEnforced.isEmpty {
                stream.apply(HeaderMutations(add: rule.config.requestHeadersToAddWhenNotEnforced), to: &stream.request.headers)
            }
            return .proceed
        }
        shard.inc(rule.enforced)
        stream.flags.insert(.rateLimited)
        var headers = HeaderMap()
        if !rule.config.responseHeadersToAdd.isEmpty { stream.apply(HeaderMutations(add: rule.config.responseHeadersToAdd), to: &headers) }
        stream.sendLocalReply(rule.config.status, body: "local_rate_limited", details: "local_rate_limited", extraHeaders: headers)
        return .stop
    }

    /// As Envoy, the values are read when the response starts.
    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        guard let bucket = reported else { return }
        let (remaining, reset) = bucket.headerValues(now: Int64(stream.worker.now.uptimeNanoseconds))
        head.headers.set("x-ratelimit-limit", String(Int(bucket.maxTokens)))
        head.headers.set("x-ratelimit-remaining", String(remaining))
        head.headers.set("x-ratelimit-reset", String(reset))
    }
}
