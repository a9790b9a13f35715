import Atomics
import FerryConfig
import FerryTelemetry
import NIOCore

/// `envoy.filters.http.fault`: the listener-level settings, the stats every stream shares, and
/// the count of active faults behind `max_active_faults`. A route's `typed_per_filter_config`
/// HTTPFault replaces the listener-level settings for its requests, as in Envoy.
final class FaultFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let settings: FaultSettings
    let shared: FaultShared

    init(name: String, disabledByDefault: Bool, config: HttpFilter.FaultConfig, context: FilterFactoryContext) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        settings = FaultSettings(config)
        // One count per filter, kept across reloads like Envoy's active_faults gauge.
        let active = context.governanceState(filter: name, scope: "", fingerprint: "fault") { ActiveFaults(statPrefix: context.statPrefix) }
        let shared = FaultShared(statPrefix: context.statPrefix, store: context.store, active: active)
        self.shared = shared
        fixedDefaultLink = ChainedFilter(FilterGate { [settings] stream in Self.makeFilter(settings, shared: shared, for: stream) })
    }

    /// Each stream that can get a fault gets a filter of its own from this gate (so
    /// `makeDefaultLink` is never asked).
    nonisolated(unsafe) let fixedDefaultLink: ChainedFilter?

    func compileRouteConfig(_ override: FilterOverride, scope: String, context: FilterFactoryContext) -> (any Sendable)? {
        guard case .fault(let config)? = override.kind else {
            context.diagnostics.error(override.location, override.path, "\(name) takes an HTTPFault as its per-route config",
                                      fix: "use \"@type\": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault")
            return nil
        }
        return FaultSettings(config)
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? {
        Self.makeFilter(routeConfig.flatMap { $0 as? FaultSettings } ?? settings, shared: shared, for: stream)
    }

    private static func makeFilter(_ settings: FaultSettings, shared: FaultShared, for stream: ActiveStream) -> FaultFilter? {
        // Every fault at 0% and no runtime layer that could raise a share: nothing can happen.
        if settings.inert && stream.worker.runtime.isEmpty { return nil }
        return FaultFilter(settings: settings, shared: shared)
    }
}

/// One HTTPFault config (the listener's or a route's), shared by the streams that use it.
final class FaultSettings: Sendable {
    let config: HttpFilter.FaultConfig
    /// Each configured fault (delay, abort, response rate limit) has a 0% share, so without
    /// runtime overrides none is ever drawn (a request's percentage header may only lower it).
    let inert: Bool

    init(_ config: HttpFilter.FaultConfig) {
        self.config = config
        inert = (config.delay?.percentage.numerator ?? 0) == 0 && (config.abort?.percentage.numerator ?? 0) == 0
            && (config.responseRateLimit?.percentage.numerator ?? 0) == 0
    }
}

/// What every stream of one fault filter shares: `http.<stat_prefix>.fault.*` and the count of
/// streams with an active fault (across workers).
final class FaultShared: Sendable {
    let statPrefix: String
    let delaysInjected, abortsInjected, responseRLInjected, faultsOverflow: CounterID
    let activeFaults: GaugeID
    let active: ActiveFaults

    init(statPrefix: String, store: StatsStore, active: ActiveFaults) {
        self.statPrefix = statPrefix
        self.active = active
        delaysInjected = store.counter(.http(statPrefix, "fault.delays_injected"))
        abortsInjected = store.counter(.http(statPrefix, "fault.aborts_injected"))
        responseRLInjected = store.counter(.http(statPrefix, "fault.response_rl_injected"))
        faultsOverflow = store.counter(.http(statPrefix, "fault.faults_overflow"))
        activeFaults = store.gauge(.http(statPrefix, "fault.active_faults"))
    }

    /// `http.<prefix>.fault.<downstream cluster>.<stat>`. Envoy's tag extractor takes the cluster
    /// name up to its first dot as `envoy_fault_downstream_cluster`; the rest stays in the name.
    func downstreamKey(_ cluster: String, _ stat: String) -> StatKey {
        let tag = cluster.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let rest = tag.count > 1 ? "\(tag[1])." : ""
        return StatKey(name: "http.\(statPrefix).fault.\(cluster).\(stat)",
                       family: StatKey.familyName("http.fault.\(rest)\(stat)"),
                       labels: [.init("envoy_fault_downstream_cluster", String(tag[0])),
                                .init("envoy_http_conn_manager_prefix", statPrefix)])
    }
}

/// Streams with an active fault, across every worker (Envoy's `active_faults` gauge, which
/// `max_active_faults` is checked against; a fuzzy limit in Envoy too).
final class ActiveFaults: GovernanceState {
    let count = ManagedAtomic<Int>(0)
    let statPrefix: String
    var kind: String { "fault" }
    var statNames: [(label: String, name: String)] {
        ["delays_injected", "aborts_injected", "response_rl_injected", "faults_overflow"].map { ($0, "http.\(statPrefix).fault.\($0)") }
    }

    init(statPrefix: String) { self.statPrefix = statPrefix }

    func json(now: NIODeadline) -> String { "{\"active_faults\":\(count.load(ordering: .relaxed))}" }
}
