import FerryConfig
import FerryTelemetry

/// A governance rule applied by a filter, one per stream: its config type, how a
/// `typed_per_filter_config` entry of its type is recognised, and the stream filter it makes.
/// Its state lives in the governance registry, kept across reloads while the config (its
/// fingerprint) is unchanged.
protocol FilterRule: GovernanceState {
    associatedtype Config: Sendable
    /// The filter's kind with its article (`a rate_limit`), for the wrong-type error.
    static var filterKind: String { get }
    /// The per-route entry's message name (`@type` without its prefix).
    static var typeURL: String { get }
    /// The config of a per-route entry of this filter's type, else nil.
    static func config(in kind: HttpFilter.Kind) -> Config?
    static func fingerprint(_ config: Config) -> String
    /// Reports a per-route config this filter refuses beyond its type; true when refused.
    static func refusesRouteConfig(_ config: Config, _ override: FilterOverride, context: FilterFactoryContext) -> Bool
    init(config: Config, store: StatsStore)
    /// The filter's place in `ActiveStream.filterState`, for a filter that can keep its
    /// per-stream state there; nil for the others.
    static var streamState: FilterStreamState.Claims.Kind? { get }
    /// The filter object. `stateInStream`: the factory holds this kind's place in the stream
    /// (`streamState`), so the object keeps each stream's state there and serves every stream.
    func makeFilter(stateInStream: Bool) -> StreamFilter
    /// True when this rule's filter keeps nothing per stream and never changes itself, so one
    /// object serves every stream of every loop (no allocation per request).
    var sharesOneFilter: Bool { get }
    /// True when the rule can do nothing for `stream`'s request (its filter is then not made).
    func skips(_ stream: ActiveStream) -> Bool
}

extension FilterRule {
    static var streamState: FilterStreamState.Claims.Kind? { nil }
    var sharesOneFilter: Bool { false }
    func skips(_ stream: ActiveStream) -> Bool { false }
    static func fingerprint(_ config: Config) -> String { "\(config)" }
    static func refusesRouteConfig(_ config: Config, _ override: FilterOverride, context: FilterFactoryContext) -> Bool { false }
}

/// The factory of a filter that applies a `FilterRule`: the listener-level rule, and one rule
/// per route scope that has its own `typed_per_filter_config`.
final class RuleFilterFactory<Rule: FilterRule>: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let rule: Rule
    /// The filter keeps each stream's state in the stream (it holds its kind's place there).
    private let stateInStream: Bool
    /// The listener-level rule's one filter object when it keeps nothing of its own per stream
    /// (`rule.sharesOneFilter`, or `stateInStream`), so the loops share it; otherwise a gate
    /// that makes one for each stream the rule does not skip (so `makeDefaultLink` is never
    /// asked).
    nonisolated(unsafe) let fixedDefaultLink: ChainedFilter?

    /// `claims`: the places in `ActiveStream.filterState` still free in this chain.
    init(name: String, disabledByDefault: Bool, config: Rule.Config, context: FilterFactoryContext,
         claims: inout FilterStreamState.Claims) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        let rule = Self.rule(config, filter: name, scope: "", context: context)
        self.rule = rule
        let stateInStream = Rule.streamState.map { claims.claim($0) } ?? false
        self.stateInStream = stateInStream
        fixedDefaultLink = ChainedFilter(rule.sharesOneFilter || stateInStream
            ? rule.makeFilter(stateInStream: stateInStream)
            : FilterGate { stream in rule.skips(stream) ? nil : rule.makeFilter(stateInStream: false) })
    }

    private static func rule(_ config: Rule.Config, filter: String, scope: String, context: FilterFactoryContext) -> Rule {
        context.governanceState(filter: filter, scope: scope, fingerprint: Rule.fingerprint(config)) {
            Rule(config: config, store: context.store)
        }
    }

    func compileRouteConfig(_ override: FilterOverride, scope: String, context: FilterFactoryContext) -> (any Sendable)? {
        guard let kind = override.kind, let config = Rule.config(in: kind) else {
            context.diagnostics.error(override.location, override.path, "\(name) is \(Rule.filterKind) filter; this entry has another type",
                                      fix: "use @type type.googleapis.com/\(Rule.typeURL)")
            return nil
        }
        if Rule.refusesRouteConfig(config, override, context: context) { return nil }
        return Self.rule(config, filter: name, scope: scope, context: context)
    }

    /// A route's own rule (what `compileRouteConfig` made) for `stream`; a stream whose route
    /// sets nothing takes `fixedDefaultLink` instead.
    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? {
        let routeRule = routeConfig as? Rule ?? rule
        return routeRule.skips(stream) ? nil : routeRule.makeFilter(stateInStream: stateInStream)
    }
}
