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

    init(name: String, disabledByDefault: Bool, config: AdaptiveConcurrencyConfig, context: FilterFactoryContext) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        let fingerprint = AdaptiveConcurrencyRule.fingerprint(config, statPrefix: context.statPrefix)
        rule = context.governanceState(filter: name, scope: "", fingerprint: fingerprint) {
            AdaptiveConcurrencyRule(config: config, statPrefix: context.statPrefix, store: context.store, now: .now())
        }
    }

    // Envoy has no per-route config for this filter: routes may only turn it off (the default
    // compileRouteConfig refuses anything else).

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? {
        AdaptiveConcurrencyFilter(rule: rule)
    }
}

final class AdaptiveConcurrencyFilter: StreamFilter {
    let rule: AdaptiveConcurrencyRule
    /// When the request was admitted; nil when the filter let it pass without counting it.
    private var admittedAt: NIODeadline?

    init(rule: AdaptiveConcurrencyRule) { self.rule = rule }

    var hooks: FilterHooks { [.decodeHeaders, .onComplete] }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        // Health checks are not sampled: they would bias the latency low (as Envoy).
        guard worker.featureEnabled(rule.config.enabled), !stream.isHealthCheck else { return .proceed }
        let now = worker.now
        if rule.tryAcquire(now: now) {
            admittedAt = now
            return .proceed
        }
        worker.stats.inc(rule.rqBlocked)
        stream.sendLocalReply(rule.config.status, body: "reached concurrency limit", details: "reached_concurrency_limit")
        return .stop
    }

    func onComplete(_ stream: ActiveStream) {
        guard let admittedAt else { return }
        self.admittedAt = nil
        guard stream.responseEnded else { return rule.cancel() }
        let now = stream.worker.now
        rule.record(rtt: now - admittedAt, now: now)
    }
}
