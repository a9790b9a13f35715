import FerryConfig
import FerryTelemetry
import NIOCore

/// What a filter hook tells the chain.
enum FilterStatus {
    /// Go on to the next filter (and finally the router).
    case proceed
    /// Stop here: the filter answered (local reply), or will call `stream.continueDecoding()`
    /// later (a delay, a queue); the request body waits meanwhile.
    case stop
}

/// One HTTP filter's work on one stream, in the order of `http_filters`. Hooks default to doing
/// nothing; a filter implements only what it needs. Decode hooks run in config order before the
/// router; `interceptResponse`, `encodeHeaders`, `encodeData` and `encodeTrailers` in reverse
/// order on the response; `onComplete` once at the end (in config order).
///
/// Transforming bodies (docs/ARCHITECTURE.md, "Filters that transform bodies"): the response
/// hooks take the head, each body chunk and the trailers `inout`, so a filter may rewrite them
/// (gRPC-Web turns trailers into a body frame and re-encodes chunks). The request body passes
/// only through filters that asked for it with `stream.transformRequestBody(by:)`, so a stream
/// without such a filter pays nothing per request chunk.
protocol StreamFilter: AnyObject {
    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus
    /// A chunk of the request body on its way upstream, offered only to filters that called
    /// `stream.transformRequestBody(by:)` (in config order). The filter may replace `data`
    /// (an empty buffer sends nothing now; keep the bytes for a later chunk) or answer with
    /// `stream.sendLocalReply` (the stream then ends; later filters see nothing). A filter
    /// that changes the body's length calls `stream.requestBodyLengthChanges()` in
    /// `decodeHeaders`.
    func decodeData(_ stream: ActiveStream, _ data: inout ByteBuffer, endStream: Bool)
    /// A response is about to start: the upstream's head (`local` false) or a local reply
    /// (the router's 503/504, another filter's rejection). Return a takeover to answer
    /// differently: the original response is dropped (an upstream response's connection is
    /// closed), then the takeover runs and answers (e.g. `sendLocalReply`, or routes again).
    /// Not offered the filter's own reply.
    func interceptResponse(_ stream: ActiveStream, status: Int, local: Bool) -> ResponseTakeover?
    /// The response head; a filter that changes the body's length removes `content-length`
    /// (the codec then frames the body itself).
    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead)
    /// A chunk of the response body on its way downstream. The filter may replace it; an
    /// empty buffer sends nothing now (the filter keeps what it needs and sends it with a
    /// later chunk or from `encodeTrailers`).
    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer)
    /// The end of the response, with its trailers (nil: none). The filter may change, add or
    /// remove trailers, and may return bytes that go out as the last body chunk before the end
    /// (they pass through the filters after this one in encode order, as any chunk does).
    func encodeTrailers(_ stream: ActiveStream, _ trailers: inout HeaderMap?) -> ByteBuffer?
    /// Pacing (the fault filter's response_rate_limit): offered each part of the response body
    /// (chunks, then the end) before `encodeData` / `encodeTrailers`. Return true to keep the
    /// part: the filter owns it and hands it on later with `stream.releaseBody(_:from:)`, and
    /// must keep every later part too until it has released what it holds, so order is kept.
    /// While it holds more than it wants, `stream.pauseResponseBody()` stops the upstream.
    func holdBody(_ stream: ActiveStream, _ part: BodyPart) -> Bool
    func onComplete(_ stream: ActiveStream)
    /// The hooks this object implements (asked once, when the stream makes it); `decodeData`
    /// is asked for separately (`transformRequestBody`).
    var hooks: FilterHooks { get }
}

/// The hooks a filter object implements, so a stream calls only those. A filter that leaves
/// `hooks` at `.all` is offered everything (the hooks it does not implement do nothing).
struct FilterHooks: OptionSet {
    let rawValue: UInt8
    static let decodeHeaders = FilterHooks(rawValue: 1 << 0)
    static let interceptResponse = FilterHooks(rawValue: 1 << 1)
    static let encodeHeaders = FilterHooks(rawValue: 1 << 2)
    /// `holdBody`, `encodeData` and `encodeTrailers` (the response body and its end).
    static let responseBody = FilterHooks(rawValue: 1 << 3)
    static let onComplete = FilterHooks(rawValue: 1 << 4)
    static let all: FilterHooks = [.decodeHeaders, .interceptResponse, .encodeHeaders, .responseBody, .onComplete]
}

/// One filter object of a stream's chain, with the hooks it takes.
struct ChainedFilter {
    let filter: StreamFilter
    let hooks: FilterHooks

    /// `filter` with the hooks it says it implements.
    init(_ filter: StreamFilter) {
        self.filter = filter
        hooks = filter.hooks
    }
}

/// A configured filter as a stream's chain reads it: its factory, and whether it is off unless
/// a route turns it on, kept here so the chain does not ask the factory per stream.
struct FilterSlot: @unchecked Sendable {
    let factory: StreamFilterFactory
    let disabledByDefault: Bool
    /// `factory.fixedDefaultLink`: what a stream whose route sets nothing for this filter gets
    /// (an object shared by every loop, keeping nothing of its own per stream).
    let fixedLink: ChainedFilter?

    init(_ factory: StreamFilterFactory) {
        self.factory = factory
        disabledByDefault = factory.disabledByDefault
        fixedLink = factory.fixedDefaultLink
    }

    /// The link of a stream whose route sets nothing for this filter.
    @inline(__always)
    func defaultLink(for stream: ActiveStream) -> ChainedFilter? {
        fixedLink ?? factory.makeDefaultLink(for: stream)
    }
}

/// The chain every stream of a connection manager gets when its route sets nothing for any
/// filter, built once: each filter enabled by default has one object for every stream
/// (`StreamFilterFactory.fixedDefaultLink`). A stream then takes the array as it is (one
/// reference) instead of asking each factory.
struct FixedFilterChain: @unchecked Sendable {
    // The filter objects are shared by every loop: each keeps nothing of its own per stream.
    let filters: [ChainedFilter]
    let hooks: FilterHooks

    /// Nil when some filter's link depends on the stream.
    init?(_ slots: [FilterSlot]) {
        var filters: [ChainedFilter] = []
        var hooks: FilterHooks = []
        for slot in slots where !slot.disabledByDefault {
            guard let link = slot.fixedLink else { return nil }
            filters.append(link)
            hooks.formUnion(link.hooks)
        }
        self.filters = filters
        self.hooks = hooks
    }
}

/// The one object a filter that needs an object per stream (or none, for some requests) puts
/// in every stream's chain, so the chain can be built once (`FixedFilterChain`): when the
/// request reaches it, `make` decides; the object it makes takes the gate's place in this
/// stream's chain (with all its hooks) and runs its decode hook at once. A filter made there
/// sees nothing of a request that an earlier filter answered, which is what its own hooks do
/// then anyway: each keeps what its response hooks act on from its decode hook.
final class FilterGate: StreamFilter {
    private let make: @Sendable (ActiveStream) -> StreamFilter?

    init(_ make: @escaping @Sendable (ActiveStream) -> StreamFilter?) { self.make = make }

    var hooks: FilterHooks { .decodeHeaders }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        guard let own = make(stream) else { return .proceed }
        stream.replaceFilter(self, with: own)
        return own.hooks.contains(.decodeHeaders) ? own.decodeHeaders(stream, endStream: endStream) : .proceed
    }
}

/// A part of the response body, for `StreamFilter.holdBody`.
enum BodyPart {
    case data(ByteBuffer)
    /// The end of the response (HTTP/1 sends no trailers; they are kept for the access log).
    case end(trailers: HeaderMap?)
}

extension StreamFilter {
    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus { .proceed }
    func decodeData(_ stream: ActiveStream, _ data: inout ByteBuffer, endStream: Bool) {}
    func interceptResponse(_ stream: ActiveStream, status: Int, local: Bool) -> ResponseTakeover? { nil }
    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {}
    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) {}
    func encodeTrailers(_ stream: ActiveStream, _ trailers: inout HeaderMap?) -> ByteBuffer? { nil }
    func holdBody(_ stream: ActiveStream, _ part: BodyPart) -> Bool { false }
    func onComplete(_ stream: ActiveStream) {}
    var hooks: FilterHooks { .all }
}

/// A filter's replacement for a response (see `StreamFilter.interceptResponse`).
typealias ResponseTakeover = () -> Void

/// What a factory is compiled with: where its stats go and what it may refer to.
struct FilterFactoryContext {
    let node: NodeInfo
    let store: StatsStore
    /// The connection manager's `stat_prefix`.
    let statPrefix: String
    let listenerName: String
    let clusterIndex: [String: Int]
    let governance: GovernanceRegistry
    let diagnostics: DiagnosticCollector
    /// Governance keys this generation uses (the registry drops the others once it is active).
    let governanceKeys: KeySet

    final class KeySet {
        var keys = Set<String>()
    }

    /// Shared state for one governance rule, kept across reloads while its config is unchanged.
    /// `scope` is "" for the filter's listener-level rule, else the route's scope name.
    func governanceState<S: GovernanceState>(filter: String, scope: String, fingerprint: String, make: () -> S) -> S {
        let key = "\(listenerName)/\(filter)" + (scope.isEmpty ? "" : "/\(scope)")
        governanceKeys.keys.insert(key)
        return governance.state(key: key, fingerprint: fingerprint, make: make)
    }
}

/// Makes a filter's per-stream object; compiled once per configuration generation. A class, so
/// a stream reaches each factory through one reference (no existential copy per call).
protocol StreamFilterFactory: AnyObject, Sendable {
    /// The filter's `name` in `http_filters`; `typed_per_filter_config` keys refer to it.
    var name: String { get }
    /// `disabled: true` in `http_filters`: runs only where a route enables it.
    var disabledByDefault: Bool { get }
    /// Compiles this filter's `typed_per_filter_config` entry for one route (or virtual host,
    /// or route configuration; `scope` names it for stats and live state). Reports a located
    /// error and returns nil when the filter takes no such config or the type is not its own.
    func compileRouteConfig(_ override: FilterOverride, scope: String, context: FilterFactoryContext) -> (any Sendable)?
    /// The filter object for `stream` (its request head is complete); `routeConfig` is the
    /// compiled per-route config, if any. Nil when the filter can do nothing for this request,
    /// so the stream neither makes nor calls it.
    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter?
    /// The link of a stream whose route sets nothing for this filter, when it is one object for
    /// every stream (it decides per stream in its hooks, and keeps what it needs in the stream
    /// or hands the stream to an object of its own, as `FilterGate` does); nil when the link
    /// depends on the stream. Asked once, when the connection manager is compiled.
    var fixedDefaultLink: ChainedFilter? { get }
    /// For a factory without a `fixedDefaultLink`: `makeFilter` with the listener-level config,
    /// as the stream's chain keeps it, with no optional existential to pass, copy and destroy.
    func makeDefaultLink(for stream: ActiveStream) -> ChainedFilter?
}

extension StreamFilterFactory {
    var fixedDefaultLink: ChainedFilter? { nil }

    func makeDefaultLink(for stream: ActiveStream) -> ChainedFilter? {
        makeFilter(routeConfig: nil, for: stream).map(ChainedFilter.init)
    }

    func compileRouteConfig(_ override: FilterOverride, scope: String, context: FilterFactoryContext) -> (any Sendable)? {
        context.diagnostics.error(override.location, override.path, "\(name) takes no per-route configuration",
                                  fix: "remove the entry, or use an envoy.config.route.v3.FilterConfig with only `disabled: true`")
        return nil
    }
}

/// A filter's setting on one route, after merging route configuration, virtual host and route
/// (the most specific level that mentions the filter wins).
enum RouteFilterSetting: Sendable {
    /// No level mentions the filter: its listener-level config and default on/off apply.
    case inherit
    case disabled
    /// On (a `FilterConfig` with `disabled: false` and no config, for a default-off filter).
    case enabled
    case config(any Sendable)
}

enum StreamFilterFactories {
    /// Factories for the configured filters, in order (the router is the stream's own last step).
    static func make(_ filters: [HttpFilter], context: FilterFactoryContext) -> [StreamFilterFactory] {
        var claims = FilterStreamState.Claims()
        return filters.compactMap { filter in
            switch filter.kind {
            case .router: return nil
            case .healthCheck(let config):
                return HealthCheckFilterFactory(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                cluster: context.node.cluster)
            case .localRateLimit(let config):
                return RuleFilterFactory<LocalRateLimitRule>(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                      context: context, claims: &claims)
            case .rateLimit(let config):
                return RuleFilterFactory<RateLimitRule>(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                      context: context, claims: &claims)
            case .fault(let config):
                return FaultFilterFactory(name: filter.name, disabledByDefault: filter.disabled, config: config, context: context)
            case .circuitBreaker(let config):
                return RuleFilterFactory<CircuitBreakerRule>(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                      context: context, claims: &claims)
            case .fallback(let config):
                return FallbackFilterFactory(name: filter.name, disabledByDefault: filter.disabled, config: config, context: context)
            case .bulkhead(let config):
                return RuleFilterFactory<BulkheadRule>(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                      context: context, claims: &claims)
            case .idempotency(let config):
                return RuleFilterFactory<IdempotencyRule>(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                      context: context, claims: &claims)
            case .adaptiveConcurrency(let config):
                return AdaptiveConcurrencyFilterFactory(name: filter.name, disabledByDefault: filter.disabled, config: config,
                                                        context: context, claims: &claims)
            case .grpcStats(let config):
                return GRPCStatsFilterFactory(name: filter.name, disabledByDefault: filter.disabled, config: config)
            case .grpcWeb:
                return GRPCWebFilterFactory(name: filter.name, disabledByDefault: filter.disabled)
            case .grpcJSONTranscoder(let config):
                return GRPCJSONTranscoderFilterFactory(name: filter.name, disabledByDefault: filter.disabled, config: config)
            }
        }
    }

    /// The per-route settings of `factories` for one level of overrides on top of `base`;
    /// empty when no filter is mentioned anywhere (the common case: no per-route lookups).
    static func settings(_ overrides: [String: FilterOverride], over base: [RouteFilterSetting], scope: String,
                         factories: [StreamFilterFactory], context: FilterFactoryContext) -> [RouteFilterSetting] {
        guard !overrides.isEmpty else { return base }
        var result = base.isEmpty ? Array(repeating: RouteFilterSetting.inherit, count: factories.count) : base
        for (name, override) in overrides.sorted(by: { $0.key < $1.key }) {
            // An entry for a filter this listener lacks has no effect here (route configurations
            // may serve several listeners); the validator warns about names no listener has.
            guard let index = factories.firstIndex(where: { $0.name == name }) else { continue }
            if override.disabled {
                result[index] = .disabled
            } else if override.kind == nil {
                result[index] = .enabled
            } else if let compiled = factories[index].compileRouteConfig(override, scope: scope, context: context) {
                result[index] = .config(compiled)
            }
        }
        return result
    }
}
