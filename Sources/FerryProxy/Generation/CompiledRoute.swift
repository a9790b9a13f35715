import FerryConfig
import FerryPolicy
import NIOCore

/// A route with its matcher and action prepared for the request path.
final class CompiledRoute: Sendable {
    enum PathMatch: Sendable {
        case prefix(String)
        case exact(String)
        case regex(CompiledRegex)
        case separatedPrefix(String)
    }

    enum Action: Sendable {
        case route(CompiledRouteAction)
        case redirect(RedirectAction)
        case directResponse(status: Int, body: ByteBuffer?)
    }

    let name: String
    let path: PathMatch
    let caseSensitive: Bool
    let headers: [HeaderMatcher]
    let queryParameters: [QueryParameterMatcher]
    let grpcOnly: Bool
    let action: Action
    /// The action when it forwards upstream (`route`), else nil: read without copying `action`.
    let forwardAction: CompiledRouteAction?
    let requestHeaders: HeaderMutations
    let responseHeaders: HeaderMutations
    /// Per-filter settings by position in the listener's filter chain (empty: none anywhere).
    let filterSettings: [RouteFilterSetting]
    /// `<virtual host>/<route name, or its index when unnamed>`: how governance keys and
    /// `/governance` scopes name the route.
    let key: String

    init(_ route: Route, action: Action, filterSettings: [RouteFilterSetting], key: String) {
        self.filterSettings = filterSettings
        self.key = key
        name = route.name
        caseSensitive = route.match.caseSensitive
        switch route.match.path {
        case .prefix(let p): path = .prefix(caseSensitive ? p : p.lowercased())
        case .path(let p): path = .exact(caseSensitive ? p : p.lowercased())
        case .regex(let r): path = .regex(r)
        case .pathSeparatedPrefix(let p): path = .separatedPrefix(caseSensitive ? p : p.lowercased())
        }
        headers = route.match.headers
        queryParameters = route.match.queryParameters
        grpcOnly = route.match.grpcOnly
        self.action = action
        if case .route(let forward) = action { forwardAction = forward } else { forwardAction = nil }
        requestHeaders = route.requestHeaders
        responseHeaders = route.responseHeaders
    }

    func matches(_ request: RequestHead, path requestPath: Substring) -> Bool {
        guard matchesPath(requestPath) else { return false }
        if grpcOnly {
            guard let type = request.headers.first("content-type"), type.hasPrefix("application/grpc") else { return false }
        }
        for matcher in headers where !matcher.matches(Self.headerValue(matcher.name, in: request)) { return false }
        if !queryParameters.isEmpty {
            let params = QueryString.parse(request.query)
            for matcher in queryParameters {
                var value: String?
                for (name, v) in params where name == matcher.name {
                    value = String(v)
                    break
                }
                if !matcher.matches(value) { return false }
            }
        }
        return true
    }

    @inline(__always)
    private func matchesPath(_ requestPath: Substring) -> Bool {
        switch path {
        case .prefix(let p):
            if p.isEmpty || p == "/" { return p.isEmpty || requestPath.hasPrefix("/") }
            return caseSensitive ? requestPath.hasPrefix(p) : requestPath.lowercased().hasPrefix(p)
        case .exact(let p):
            return caseSensitive ? requestPath == p : requestPath.lowercased() == p
        case .regex(let r):
            return r.wholeMatch(requestPath)
        case .separatedPrefix(let p):
            let subject = caseSensitive ? String(requestPath) : requestPath.lowercased()
            guard subject.hasPrefix(p) else { return false }
            let rest = subject.dropFirst(p.count)
            return rest.isEmpty || rest.first == "/"
        }
    }

    /// Header values for matching, including pseudo-headers.
    static func headerValue(_ name: String, in request: RequestHead) -> String? {
        switch name {
        case ":method": return request.method
        case ":path": return request.path
        case ":authority", "host": return request.authority
        case ":scheme": return request.scheme
        default: return request.headers.joined(name)
        }
    }
}

/// Query string parsing for matchers and hash policies (values are not percent-decoded).
enum QueryString {
    static func parse(_ query: Substring?) -> [(Substring, Substring)] {
        guard let query, !query.isEmpty else { return [] }
        var result: [(Substring, Substring)] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            if let eq = pair.firstIndex(of: "=") {
                result.append((pair[..<eq], pair[pair.index(after: eq)...]))
            } else {
                result.append((pair, ""))
            }
        }
        return result
    }
}

/// A compiled `route` action.
final class CompiledRouteAction: Sendable {
    enum Target: Sendable {
        case cluster(ClusterHandle)
        /// Cluster named by a request header; resolved per request.
        case header(String)
        case weighted(WeightedPick, [WeightedTarget])
    }

    struct WeightedTarget: Sendable {
        let cluster: ClusterHandle
        let requestHeaders: HeaderMutations
        let responseHeaders: HeaderMutations
        let hostRewriteLiteral: String?
    }

    let target: Target
    let notFoundStatus: Int
    let timeout: TimeAmount
    let idleTimeout: TimeAmount?
    let prefixRewrite: String?
    let regexRewrite: (regex: CompiledRegex, substitution: String)?
    let hostRewrite: RouteAction.HostRewrite?
    let appendXForwardedHost: Bool
    let hashPolicy: [HashPolicy]
    /// Upgrade types enabled or disabled on this route (overrides the HCM's list).
    let upgrades: [String: Bool]
    /// The route's retry policy, else its virtual host's.
    let retryPolicy: RetryPolicy?
    /// Request body bytes kept for retries (route, virtual host, else the listener's buffer limit).
    let retryBufferLimit: Int
    /// `rate_limits` and `include_vh_rate_limits`, for the local rate limit filter.
    let rateLimits: [RouteRateLimit]
    let includeVhRateLimits: Bool
    /// `max_stream_duration`: the route's cap and how a `grpc-timeout` header applies.
    let maxStreamDuration: RouteAction.MaxStreamDuration?

    init(_ action: RouteAction, target: Target, hostRetryPolicy: RetryPolicy? = nil, retryBufferLimit: Int = 1_048_576) {
        retryPolicy = action.retryPolicy ?? hostRetryPolicy
        self.retryBufferLimit = retryBufferLimit
        self.target = target
        notFoundStatus = action.clusterNotFoundCode.status
        timeout = action.timeout.map(TimeAmount.init) ?? .seconds(15)
        idleTimeout = action.idleTimeout.map(TimeAmount.init)
        prefixRewrite = action.prefixRewrite
        regexRewrite = action.regexRewrite
        hostRewrite = action.hostRewrite
        appendXForwardedHost = action.appendXForwardedHost
        hashPolicy = action.hashPolicy
        rateLimits = action.rateLimits
        includeVhRateLimits = action.includeVhRateLimits
        maxStreamDuration = action.maxStreamDuration
        var upgrades: [String: Bool] = [:]
        for u in action.upgradeConfigs { upgrades[u.upgradeType] = u.enabled }
        self.upgrades = upgrades
    }
}

/// A cluster as a route refers to it: its name and its index in the generation.
struct ClusterHandle: Sendable {
    let name: String
    let index: Int
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
