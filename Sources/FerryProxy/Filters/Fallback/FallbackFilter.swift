import FerryConfig
import FerryTelemetry
import NIOCore

/// A `Fallback` config compiled for one generation: the rule (shared, reload-surviving) and the
/// actions with their clusters resolved.
struct FallbackPlan: Sendable {
    enum Action: Sendable {
        case stale
        case backup(ClusterHandle)
        case staticReply(FallbackConfig.StaticReply)
    }

    let rule: FallbackRule
    let actions: [Action]

    /// Resolves `config`'s backup clusters (a located error for an unknown one) and gets the rule.
    static func compile(_ config: FallbackConfig, filter: String, scope: String, context: FilterFactoryContext) -> FallbackPlan? {
        var actions: [Action] = []
        var valid = true
        var staleSeen = false
        for action in config.actions {
            switch action {
            case .stale:
                // One cache per rule: a second stale action would only repeat the first.
                if staleSeen { continue }
                staleSeen = true
                actions.append(.stale)
            case .backupCluster(let name, let location, let path):
                guard let index = context.clusterIndex[name] else {
                    let suggestion = Suggestion.closest(to: name, in: context.clusterIndex.keys)
                    context.diagnostics.error(location, path, "unknown cluster \"\(name)\""
                                                  + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                                              fix: "name a cluster of static_resources.clusters")
                    valid = false
                    continue
                }
                actions.append(.backup(ClusterHandle(name: name, index: index)))
            case .staticReply(let reply):
                actions.append(.staticReply(reply))
            }
        }
        guard valid else { return nil }
        let rule = context.governanceState(filter: filter, scope: scope, fingerprint: FallbackRule.fingerprint(config)) {
            FallbackRule(config: config, store: context.store)
        }
        return FallbackPlan(rule: rule, actions: actions)
    }
}

/// `ferry.filters.http.fallback`: when the upstream path fails in a way listed in `on`, answers
/// with the first available action: the last good response (`stale`), another cluster
/// (`backup_cluster`), or a fixed reply (`static`). It sees failures through
/// `interceptResponse`, so it catches the breaker's rejection and the router's own replies
/// whatever its place in `http_filters` (see docs/governance.md).
final class FallbackFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let plan: FallbackPlan?
    /// Without a stale action a stream keeps nothing until the fallback answers for it: every
    /// stream starts on this one object, and one that is answered gets its own (no allocation
    /// per request on the path that works).
    nonisolated(unsafe) private let sharedLink: ChainedFilter?

    init(name: String, disabledByDefault: Bool, config: FallbackConfig, context: FilterFactoryContext) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        plan = FallbackPlan.compile(config, filter: name, scope: "", context: context)
        sharedLink = plan.flatMap { $0.rule.stale != nil ? nil : ChainedFilter(FallbackFilter(plan: $0, shared: true)) }
    }

    func compileRouteConfig(_ override: FilterOverride, scope: String, context: FilterFactoryContext) -> (any Sendable)? {
        guard case .fallback(let config)? = override.kind else {
            context.diagnostics.error(override.location, override.path, "\(name) is a fallback filter; this entry has another type",
                                      fix: "use @type type.googleapis.com/ferry.filters.http.fallback.v1.Fallback")
            return nil
        }
        return FallbackPlan.compile(config, filter: name, scope: scope, context: context)
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? {
        // A plan is missing only when compiling failed, and then the generation is refused.
        guard let routeConfig else { return FallbackFilter(plan: plan!) }
        return FallbackFilter(plan: routeConfig as? FallbackPlan ?? plan!)
    }

    func makeDefaultLink(for stream: ActiveStream) -> ChainedFilter? {
        sharedLink ?? ChainedFilter(FallbackFilter(plan: plan!))
    }

    // With a stale action the object must be in the chain from the start (it answers replies
    // of filters before it, and keeps good responses): no gate.
    var fixedDefaultLink: ChainedFilter? { sharedLink }
}

final class FallbackFilter: StreamFilter {
    let plan: FallbackPlan
    private var staleKey: String?
    /// The next action to consider: a backup that fails in turn goes on to the ones after it.
    private var nextAction = 0
    /// What this filter put in place of the response, for its header.
    private var serving: String?
    /// A good response being kept for later.
    private var capture: (status: Int, headers: HeaderMap, body: ByteBuffer)?

    /// The one object streams start on (`FallbackFilterFactory.sharedLink`): it keeps nothing
    /// itself, and hands a stream it answers to an object of the stream's own.
    private let shared: Bool

    init(plan: FallbackPlan, shared: Bool = false) {
        self.plan = plan
        self.shared = shared
    }

    /// The shared object only watches for failures: the header goes on a response it answered,
    /// and that is the stream's own object's (whose hooks the stream adds when it takes its place).
    var hooks: FilterHooks { shared ? .interceptResponse : plan.rule.filterHooks }

    var rule: FallbackRule { plan.rule }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        // Keyed before the router rewrites the request in place.
        staleKey = rule.staleKey(for: stream)
        return .proceed
    }

    func interceptResponse(_ stream: ActiveStream, status: Int, local: Bool) -> ResponseTakeover? {
        guard triggered(stream, status: status, local: local), stream.worker.featureEnabled(rule.config.filterEnabled) else { return nil }
        // Shadow mode: count the failure the fallback would have answered, and keep it.
        guard stream.worker.featureEnabled(rule.config.filterEnforced) else {
            stream.worker.stats.inc(rule.shadow)
            return nil
        }
        guard !shared else {
            // The answer keeps state (the next action, the header): from here on the stream has a
            // fallback object of its own in this filter's place.
            let own = FallbackFilter(plan: plan)
            stream.replaceFilter(self, with: own)
            return own.answer(stream, status: status)
        }
        return answer(stream, status: status)
    }

    /// Picks the first available action for a failure the fallback answers.
    private func answer(_ stream: ActiveStream, status: Int) -> ResponseTakeover? {
        // Breakers must see the failure before it is replaced, wherever they sit in the chain.
        for link in stream.filters { (link.filter as? CircuitBreakerFilter)?.observe(stream, status: status) }
        let shard = stream.worker.stats
        while nextAction < plan.actions.count {
            let action = plan.actions[nextAction]
            nextAction += 1
            switch action {
            case .stale:
                if staleKey == nil, stream.attemptCount == 0 { staleKey = rule.staleKey(for: stream) }
                guard let key = staleKey, let entry = rule.lookup(key, now: stream.worker.now) else { continue }
                shard.inc(rule.staleServed)
                return { [self] in serveStale(stream, entry) }
            case .backup(let handle):
                guard stream.canReroute else { continue }
                shard.inc(rule.backupServed)
                return { [self] in
                    serving = "backup"
                    _ = stream.reroute(to: handle)
                }
            case .staticReply(let reply):
                shard.inc(rule.staticServed)
                return { [self] in
                    serving = "static"
                    var headers = HeaderMap()
                    for (name, value) in reply.headers { headers.addLowercased(name, value) }
                    stream.sendFallbackResponse(status: reply.status, headers: headers, body: ByteBuffer(string: reply.body),
                                                details: "fallback_static")
                }
            }
        }
        shard.inc(rule.unavailable)
        return nil
    }

    private func triggered(_ stream: ActiveStream, status: Int, local: Bool) -> Bool {
        // An upstream's own response: only its status counts (the flags may be an earlier
        // attempt's, e.g. the connect failure that sent the request to a backup cluster).
        if !local { return status >= 500 && rule.config.on.contains(.fiveXX) }
        let on = rule.config.on
        let flags = stream.flags
        // A breaker's rejection is a local reply (only those need the look through the chain).
        if stream.filters.contains(where: { ($0.filter as? CircuitBreakerFilter)?.rejected(stream) == true }) {
            return on.contains(.circuitOpen)
        }
        if on.contains(.timeout) && flags.contains(.upstreamRequestTimeout) { return true }
        if on.contains(.connectFailure) && flags.contains(.upstreamConnectionFailure) { return true }
        if on.contains(.reset) && flags.contains(.upstreamConnectionTermination) { return true }
        if on.contains(.overflow) && flags.contains(.upstreamOverflow) { return true }
        if on.contains(.rateLimited) && (flags.contains(.rateLimited) || status == 429) { return true }
        return false
    }

    private func serveStale(_ stream: ActiveStream, _ entry: FallbackRule.Entry) {
        serving = "stale"
        var headers = entry.headers
        let age = (stream.worker.now - entry.storedAt).nanoseconds / 1_000_000_000
        headers.set("age", String(age))
        stream.sendFallbackResponse(status: entry.status, headers: headers, body: entry.body, details: "fallback_stale")
    }

    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        if let serving {
            head.headers.set("x-ferry-fallback", serving)
            return
        }
        // staleKey first: it is nil without a stale action, and binding `rule.stale` copies it.
        guard staleKey != nil, let stale = rule.stale, stream.request.method == "GET", (200...299).contains(head.status),
              !stream.isLocalReply else { return }
        var headers = head.headers
        for name in ["date", "content-length", "transfer-encoding", "age"] { headers.remove(name) }
        capture = (head.status, headers, ByteBufferAllocator.shared.buffer(capacity: min(stale.maxBodyBytes, 4096)))
    }

    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) {
        guard capture != nil, let stale = rule.stale else { return }
        if capture!.body.readableBytes + data.readableBytes > stale.maxBodyBytes {
            capture = nil
            return
        }
        var chunk = data
        capture!.body.writeBuffer(&chunk)
    }

    func onComplete(_ stream: ActiveStream) {
        guard let capture, let key = staleKey, stream.responseEnded,
              !stream.flags.contains(.upstreamConnectionTermination), !stream.flags.contains(.upstreamProtocolError) else { return }
        self.capture = nil
        rule.store(key, status: capture.status, headers: capture.headers, body: capture.body, now: stream.worker.now)
    }
}
