import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// `ferry.filters.http.rate_limit`: one of five algorithms per rule, keyed by request
/// descriptors. A request over the limit gets 429 (configurable) with `Retry-After` and
/// `RateLimit-Limit/-Remaining/-Reset`, flag RL; a leaky bucket with delayed admission makes it
/// wait its turn instead; not enforced (shadow mode), it is counted and let through.
extension RateLimitRule: FilterRule {
    static let filterKind = "a rate_limit"
    static let typeURL = RateLimitConfig.messageName

    static func config(in kind: HttpFilter.Kind) -> RateLimitConfig? {
        if case .rateLimit(let config) = kind { return config }
        return nil
    }

    func makeFilter(stateInStream _: Bool) -> StreamFilter { RateLimitFilter(rule: self) }

    /// Without a place to give back or success headers to add, `RateLimitFilter` writes
    /// nothing per stream.
    var sharesOneFilter: Bool { !releasesOnComplete && !config.headersOnSuccess }
}

final class RateLimitFilter: StreamFilter {
    let rule: RateLimitRule
    /// The key holding an in-flight place (CONCURRENCY), released at completion.
    private var heldKey: String?
    /// GLOBAL CONCURRENCY: the Redis lease to give back at completion.
    private var heldLease: (key: String, id: String)?
    private var successHeaders: (limit: Int, remaining: Int, reset: Int64)?

    init(rule: RateLimitRule) { self.rule = rule }

    var hooks: FilterHooks { rule.filterHooks }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        guard worker.featureEnabled(rule.config.filterEnabled), let key = Self.key(rule.config.descriptors, stream) else { return .proceed }
        if let redis = rule.config.redis { return decideGlobal(stream, redis: redis, key: key) }
        if rule.config.algorithm == .concurrency {
            let place = rule.acquire(key: key)
            if place.allowed { heldKey = key }
            return apply(stream, allowed: place.allowed, limit: place.limit, remaining: max(place.limit - place.inUse, 0),
                         retryAfter: 1, reset: 0, delay: .zero)
        }
        guard let d = rule.decide(key: key, now: worker.now) else { return .proceed }
        return apply(stream, allowed: d.isAllowed, limit: d.limit, remaining: d.remaining,
                     retryAfter: d.isNeverAllowed ? nil : d.retryAfterSeconds, reset: d.resetAfterSeconds, delay: .nanoseconds(d.delayNanoseconds))
    }

    /// Acts on a decision: go on (after the delay, for delayed admission), or answer 429 (or,
    /// not enforced, count and go on).
    private func apply(_ stream: ActiveStream, allowed: Bool, limit: Int, remaining: Int, retryAfter: Int64?, reset: Int64,
                       delay: TimeAmount) -> FilterStatus {
        let worker = stream.worker
        let shard = worker.stats
        if allowed {
            shard.inc(rule.ok)
            if rule.config.headersOnSuccess { successHeaders = (limit, remaining, reset) }
            if rule.config.delayedAdmission, delay > .zero {
                shard.inc(rule.delayed)
                stream.wake(after: delay) { [unowned stream] in stream.continueDecoding() }
                return .stop
            }
            return .proceed
        }
        shard.inc(rule.rateLimited)
        guard worker.featureEnabled(rule.config.filterEnforced) else { return .proceed }
        shard.inc(rule.enforced)
        stream.flags.insert(.rateLimited)
        var headers = HeaderMap()
        if let retryAfter { headers.addLowercased("retry-after", String(max(retryAfter, 1))) }
        Self.addRateLimitHeaders(&headers, limit: limit, remaining: remaining, reset: reset)
        stream.sendLocalReply(rule.config.status, body: "rate_limited", details: "rate_limited", extraHeaders: headers)
        return .stop
    }

    /// GLOBAL scope: the stream waits for Redis. Unreachable or slow Redis lets the request
    /// through, or with `failure_mode_deny` answers 500 with flag RLSE, as Envoy's ratelimit.
    private func decideGlobal(_ stream: ActiveStream, redis: RateLimitConfig.Redis, key: String) -> FilterStatus {
        let leaseID = "\(stream.worker.index)-\(stream.connection.id)-\(stream.started.uptimeNanoseconds)"
        var waiting = false
        var early: FilterStatus?
        rule.decideGlobal(redis, key: key, leaseID: leaseID, worker: stream.worker) { [self] result in
            let status: FilterStatus
            switch result {
            case .success(let d):
                if d.allowed && rule.config.algorithm == .concurrency { heldLease = (key, leaseID) }
                status = apply(stream, allowed: d.allowed, limit: d.limit, remaining: d.remaining, retryAfter: d.retryAfterSeconds,
                               reset: d.resetSeconds, delay: d.delay)
            case .failure:
                stream.worker.stats.inc(rule.redisErrors)
                if redis.failureModeDeny {
                    stream.flags.insert(.rateLimitServiceError)
                    stream.sendLocalReply(500, body: "", details: "rate_limiter_error")
                    status = .stop
                } else {
                    stream.worker.stats.inc(rule.failureModeAllowed)
                    status = .proceed
                }
            }
            if waiting {
                if status == .proceed { stream.continueDecoding() }
            } else {
                early = status
            }
        }
        if let early { return early }
        waiting = true
        return .stop
    }

    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        guard let (limit, remaining, reset) = successHeaders, !stream.isLocalReply || head.status < 400 else { return }
        Self.addRateLimitHeaders(&head.headers, limit: limit, remaining: remaining, reset: reset)
    }

    func onComplete(_ stream: ActiveStream) {
        if let heldKey {
            self.heldKey = nil
            rule.release(key: heldKey)
        }
        if let (key, lease) = heldLease, let redis = rule.config.redis {
            heldLease = nil
            rule.releaseGlobal(redis, key: key, leaseID: lease, worker: stream.worker)
        }
    }

    static func addRateLimitHeaders(_ headers: inout HeaderMap, limit: Int, remaining: Int, reset: Int64) {
        headers.set("ratelimit-limit", String(limit))
        headers.set("ratelimit-remaining", String(remaining))
        headers.set("ratelimit-reset", String(reset))
    }

    /// The descriptor values joined with `|`; nil when a `skip_if_absent` part is missing (the
    /// rule then does not apply to this request).
    static func key(_ descriptors: [RateLimitConfig.Descriptor], _ stream: ActiveStream) -> String? {
        if descriptors.isEmpty { return "" }
        // One descriptor (the common case): its value is the key, with no array to build.
        if descriptors.count == 1 { return part(descriptors[0], stream) }
        var parts: [String] = []
        parts.reserveCapacity(descriptors.count)
        for descriptor in descriptors {
            guard let value = part(descriptor, stream) else { return nil }
            parts.append(value)
        }
        return parts.joined(separator: "|")
    }

    /// One descriptor's value; nil when a `skip_if_absent` part is missing.
    private static func part(_ descriptor: RateLimitConfig.Descriptor, _ stream: ActiveStream) -> String? {
        switch descriptor {
        case .remoteAddress:
            return stream.downstreamRemoteIP ?? ""
        case .header(let name, let skip):
            guard let value = stream.request.headers.first(name) else { return skip ? nil : "" }
            return value
        case .path:
            return String(stream.request.pathWithoutQuery)
        case .queryParameter(let name, let skip):
            guard let value = QueryString.parse(stream.request.query).first(where: { $0.0 == name })?.1 else { return skip ? nil : "" }
            return String(value)
        case .route:
            return "\(stream.virtualHost?.name ?? "")/\(stream.route?.name ?? "")"
        }
    }
}
