import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// `ferry.filters.http.circuit_breaker`: asks the route's (or cluster's) breaker before the
/// router runs; while it is open, answers 503 `circuit breaker is open` (flag UO, details
/// `circuit_breaker_open`, `x-ferry-circuit-breaker: open`, `retry-after`). A call's outcome
/// is recorded when the stream completes, from the first response offered to the filters (the
/// upstream's head, or the router's own reply for a failed attempt) and the response flags.
extension CircuitBreakerRule: FilterRule {
    static let filterKind = "a circuit_breaker"
    static let typeURL = "ferry.filters.http.circuit_breaker.v1.CircuitBreaker"

    static func config(in kind: HttpFilter.Kind) -> CircuitBreakerFilterConfig? {
        if case .circuitBreaker(let config) = kind { return config }
        return nil
    }

    static let streamState: FilterStreamState.Claims.Kind? = .breaker

    func makeFilter(stateInStream: Bool) -> StreamFilter { CircuitBreakerFilter(rule: self, stateInStream: stateInStream) }
}

/// With `stateInStream`, one object serves every stream and keeps each stream's call in
/// `stream.filterState.breaker`; otherwise the object is the stream's own and keeps it here.
final class CircuitBreakerFilter: StreamFilter {
    let rule: CircuitBreakerRule
    /// This stream's call; nil when it is kept in the stream.
    private var own: CircuitBreakerCall?

    init(rule: CircuitBreakerRule, stateInStream: Bool) {
        self.rule = rule
        own = stateInStream ? nil : CircuitBreakerCall()
    }

    var hooks: FilterHooks { [.decodeHeaders, .interceptResponse, .onComplete] }

    @inline(__always)
    private func withCall<R>(_ stream: ActiveStream, _ body: (inout CircuitBreakerCall) -> R) -> R {
        FilterStreamState.with(&own, in: stream, at: \.breaker, body)
    }

    /// This filter refused `stream`'s request (the fallback's `circuit-open`).
    func rejected(_ stream: ActiveStream) -> Bool { withCall(stream) { $0.rejected } }

    private static func clock(_ worker: Worker) -> Duration { .nanoseconds(Int64(worker.now.uptimeNanoseconds)) }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        guard worker.featureEnabled(rule.config.filterEnabled), let key = rule.key(for: stream) else { return .proceed }
        let admission = rule.acquire(key, now: Self.clock(worker))
        count(admission.changes, worker.stats)
        if let permission = admission.permission {
            withCall(stream) { call in
                call.breaker = admission.breaker
                call.permission = permission
            }
            worker.stats.inc(rule.callsPermitted)
            return .proceed
        }
        guard worker.featureEnabled(rule.config.filterEnforced) else {
            // Shadow mode: the call goes through without a permission, so it does not count.
            worker.stats.inc(rule.shadowRejected)
            return .proceed
        }
        worker.stats.inc(rule.callsRejected)
        withCall(stream) { $0.rejected = true }
        stream.flags.insert(.upstreamOverflow)
        var headers = HeaderMap()
        headers.addLowercased("x-ferry-circuit-breaker", "open")
        let nanos = admission.retryAfter.components.seconds * 1_000_000_000 + admission.retryAfter.components.attoseconds / 1_000_000_000
        headers.addLowercased("retry-after", String(max(1, (nanos + 999_999_999) / 1_000_000_000)))
        stream.sendLocalReply(rule.config.status, body: "circuit breaker is open", details: "circuit_breaker_open", extraHeaders: headers)
        return .stop
    }

    func interceptResponse(_ stream: ActiveStream, status: Int, local: Bool) -> ResponseTakeover? {
        observe(stream, status: status)
        return nil
    }

    /// Notes the first response of a permitted call (a fallback calls this before it replaces
    /// the response, whatever the filter order).
    func observe(_ stream: ActiveStream, status: Int) {
        withCall(stream) { call in
            guard call.permission != nil, call.observed == nil else { return }
            call.observed = (status, stream.worker.now)
        }
    }

    func onComplete(_ stream: ActiveStream) {
        let (breaker, permission, observed) = withCall(stream) { call in
            defer { call.permission = nil }
            return (call.breaker, call.permission, call.observed)
        }
        guard let breaker, let permission else { return }
        // Calls that never reached an upstream (no healthy host, another filter's reply) and
        // calls the client gave up on before any response do not count.
        guard stream.attemptCount > 0, let observed else {
            return rule.release(breaker, permission: permission)
        }
        let worker = stream.worker
        let failed = rule.isFailure(status: observed.status, flags: stream.flags.all)
        let duration = Duration.nanoseconds((observed.at - stream.started).nanoseconds)
        let changes = rule.record(breaker, failed: failed, duration: duration, permission: permission, now: Self.clock(worker))
        let shard = worker.stats
        shard.inc(failed ? rule.failures : rule.successes)
        if duration > rule.config.slowCallDurationThreshold { shard.inc(rule.slowCalls) }
        count(changes, shard)
    }

    private func count(_ changes: CircuitBreakerRule.Changes, _ shard: StatsShard) {
        guard changes.any else { return }
        if changes.opened > 0 { shard.inc(rule.opened, by: UInt64(changes.opened)) }
        if changes.halfOpened > 0 { shard.inc(rule.halfOpened, by: UInt64(changes.halfOpened)) }
        if changes.closed > 0 { shard.inc(rule.closed, by: UInt64(changes.closed)) }
    }
}
