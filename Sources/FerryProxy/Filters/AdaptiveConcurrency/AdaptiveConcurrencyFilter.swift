import FerryConfig
import FerryTelemetry
import NIOCore

/// `envoy.filters.http.adaptive_concurrency`, as Envoy 1.40: while `enabled`, a request (not a
/// health check) goes on when fewer than the controller's limit are outstanding; otherwise it
/// is answered with `concurrency_limit_exceeded_status` (503), body `reached concurrency limit`,
/// details `reached_concurrency_limit` and no response flag, and `rq_blocked` counts it. An
/// admitted request's latency, from admission to the end of its response (Envoy samples at
/// encodeComplete, so the router's own 503/504 replies are samples too), feeds the controller;
/// a request reset before its response ended gives no sample.
final class AdaptiveConcurrencyFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let rule: AdaptiveConcurrencyRule
    /// The one filter object, when this factory holds adaptive concurrency's place in the
    /// stream (`ActiveStream.filterState`); else each stream gets an object of its own.
    nonisolated(unsafe) private let sharedLink: ChainedFilter?

    /// `claims`: the places in `ActiveStream.filterState` still free in this chain.
    init(name: String, disabledByDefault: Bool, config: AdaptiveConcurrencyConfig, context: FilterFactoryContext,
         claims: inout FilterStreamState.Claims) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        let fingerprint = AdaptiveConcurrencyRule.fingerprint(config, statPrefix: context.statPrefix)
        let rule = context.governanceState(filter: name, scope: "", fingerprint: fingerprint) {
            AdaptiveConcurrencyRule(config: config, statPrefix: context.statPrefix, store: context.store, now: .now())
        }
        self.rule = rule
        sharedLink = claims.claim(.concurrency) ? ChainedFilter(AdaptiveConcurrencyFilter(rule: rule, stateInStream: true)) : nil
    }

    // Envoy has no per-route config for this filter: routes may only turn it off (the default
    // compileRouteConfig refuses anything else).

    func makeDefaultLink(for stream: ActiveStream) -> ChainedFilter? {
        sharedLink ?? ChainedFilter(AdaptiveConcurrencyFilter(rule: rule, stateInStream: false))
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? {
        sharedLink?.filter ?? AdaptiveConcurrencyFilter(rule: rule, stateInStream: false)
    }

    var fixedDefaultLink: ChainedFilter? { sharedLink }
}

/// With `stateInStream`, one object serves every stream and keeps each stream's admission in
/// `stream.filterState`; otherwise the object is the stream's own and keeps it here.
final class AdaptiveConcurrencyFilter: StreamFilter {
    let rule: AdaptiveConcurrencyRule
    /// This stream's admission; nil when it is kept in the stream.
    private var own: ConcurrencyAdmission?

    init(rule: AdaptiveConcurrencyRule, stateInStream: Bool) {
        self.rule = rule
        own = stateInStream ? nil : ConcurrencyAdmission()
    }

    var hooks: FilterHooks { [.decodeHeaders, .onComplete] }

    @inline(__always)
    private func withAdmission<R>(_ stream: ActiveStream, _ body: (inout ConcurrencyAdmission) -> R) -> R {
        FilterStreamState.with(&own, in: stream, at: \.concurrency, body)
    }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        // Health checks are not sampled: they would bias the latency low (as Envoy).
        guard worker.featureEnabled(rule.config.enabled), !stream.isHealthCheck else { return .proceed }
        let now = worker.now
        if rule.tryAcquire(now: now) {
            withAdmission(stream) { $0.admittedAt = now }
            return .proceed
        }
        worker.stats.inc(rule.rqBlocked)
        stream.sendLocalReply(rule.config.status, body: "reached concurrency limit", details: "reached_concurrency_limit")
        return .stop
    }

    func onComplete(_ stream: ActiveStream) {
        let admitted = withAdmission(stream) { admission in
            defer { admission.admittedAt = nil }
            return admission.admittedAt
        }
        guard let admittedAt = admitted else { return }
        guard stream.responseEnded else { return rule.cancel() }
        let now = stream.worker.now
        rule.record(rtt: now - admittedAt, now: now)
    }
}
