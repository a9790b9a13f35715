/// `ferry.filters.http.circuit_breaker.v1.CircuitBreaker`: a resilience4j-style breaker in front
/// of the router (not Envoy's cluster `circuit_breakers`, which cap concurrency). It watches how
/// calls end (failures, slow calls) in a sliding window, opens when they cross a threshold,
/// rejects while open, and lets a few probes through after a wait. The same message is the
/// listener-level config and a route's `typed_per_filter_config` entry.
public struct CircuitBreakerFilterConfig: Sendable, Equatable {
    /// What one breaker guards.
    public enum Scope: String, ConfigEnum {
        /// One breaker per route the config applies to (default).
        case route = "ROUTE"
        /// One breaker per upstream cluster (the route's cluster, or the one a cluster header
        /// names; a weighted-cluster route has one breaker of its own).
        case cluster = "CLUSTER"
        public var protoNumber: Int { self == .route ? 0 : 1 }
    }

    public enum WindowType: String, ConfigEnum {
        case countBased = "COUNT_BASED", timeBased = "TIME_BASED"
        public var protoNumber: Int { self == .countBased ? 0 : 1 }
    }

    /// What counts as a failed call (`failure_on`).
    public enum FailureClass: String, CaseIterable, Sendable {
        /// Any 5xx answer for the upstream: its own, or the router's 503/504 for a failed attempt.
        case fiveXX = "5xx"
        /// 502, 503 or 504.
        case gatewayError = "gateway-error"
        /// Flag UF.
        case connectFailure = "connect-failure"
        /// Flag UC (the upstream closed or reset the connection).
        case reset
        /// Flag UT (route or per-try timeout).
        case timeout
        /// UF, UC, UT or UO (the cluster's own overflow).
        case localOrigin = "local-origin"
    }

    public var statPrefix: String
    public var scope = Scope.route
    public var windowType = WindowType.countBased
    /// Calls (count-based) or seconds (time-based); default 100.
    public var windowSize = 100
    /// Percent, in (0, 100]; default 50.
    public var failureRateThreshold: Double = 50
    /// Opens on this many failures in the window, however few calls; unset: off.
    public var failureCountThreshold: Int?
    /// Default 60s.
    public var slowCallDurationThreshold: Duration = .seconds(60)
    /// Percent, in (0, 100]; default 100.
    public var slowCallRateThreshold: Double = 100
    /// Default 100 (a count window never asks for more than its size).
    public var minimumNumberOfCalls = 100
    /// Default 60s.
    public var waitDurationInOpenState: Duration = .seconds(60)
    /// Default 10.
    public var permittedCallsInHalfOpenState = 10
    /// Zero (default): stay half-open until every probe is back.
    public var maxWaitDurationInHalfOpenState: Duration = .zero
    /// Default `[5xx, local-origin]`.
    public var failureOn: Set<FailureClass> = [.fiveXX, .localOrigin]
    public var failureStatusCodes: Set<Int> = []
    /// Status of the reply while open; default 503.
    public var status = 503
    /// Unset: 100% (Ferry's filters are on once configured).
    public var filterEnabled = RuntimeFractionalPercent.always
    /// Unset: 100%. Below: shadow mode for the rest (counted in `shadow_rejected`, let through).
    public var filterEnforced = RuntimeFractionalPercent.always

    public init(statPrefix: String) { self.statPrefix = statPrefix }

    static let fields: Set<String> = [
        "stat_prefix", "scope", "sliding_window", "failure_rate_threshold", "failure_count_threshold",
        "slow_call_duration_threshold", "slow_call_rate_threshold", "minimum_number_of_calls", "wait_duration_in_open_state",
        "permitted_calls_in_half_open_state", "max_wait_duration_in_half_open_state", "failure_on", "failure_status_codes",
        "status", "filter_enabled", "filter_enforced",
    ]

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish(known: fields) }
        guard let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: api` (stats are <stat_prefix>.circuit_breaker.*)") else {
            r.skipRemaining()
            return nil
        }
        var c = CircuitBreakerFilterConfig(statPrefix: prefix)
        if let scope = r.enumeration("scope", Scope.self) { c.scope = scope }
        if let window = r.object("sliding_window", "ferry.filters.http.circuit_breaker.v1.SlidingWindow") {
            defer { window.finish(known: ["type", "size"]) }
            if let type = window.enumeration("type", WindowType.self) { c.windowType = type }
            if let size = window.integer("size", in: 1...100_000, fix: "use a window of 1 to 100000 calls or seconds") {
                c.windowSize = Int(size)
            }
        }
        func percent(_ key: String) -> Double? {
            r.double(key, in: 0.000_001...100, fix: "use a percentage above 0 and at most 100, e.g. `50`")
        }
        func count(_ key: String) -> Int? {
            r.integer(key, in: 1...1_000_000, fix: "use a whole number from 1 to 1000000").map { Int($0) }
        }
        if let v = percent("failure_rate_threshold") { c.failureRateThreshold = v }
        if let v = percent("slow_call_rate_threshold") { c.slowCallRateThreshold = v }
        c.failureCountThreshold = count("failure_count_threshold")
        if let v = count("minimum_number_of_calls") { c.minimumNumberOfCalls = v }
        if let v = count("permitted_calls_in_half_open_state") { c.permittedCallsInHalfOpenState = v }
        if let v = r.duration("slow_call_duration_threshold", fix: "use a duration such as `2s`") { c.slowCallDurationThreshold = v }
        if let v = r.duration("wait_duration_in_open_state", positive: true, fix: "use a duration such as `30s`") {
            c.waitDurationInOpenState = v
        }
        if let v = r.duration("max_wait_duration_in_half_open_state", fix: "use a duration such as `10s`, or 0s for no limit") {
            c.maxWaitDurationInHalfOpenState = v
        }
        if r.has("failure_on") {
            c.failureOn = []
            for (text, location) in r.strings("failure_on") {
                if let value = FailureClass(rawValue: text) {
                    c.failureOn.insert(value)
                } else {
                    let names = FailureClass.allCases.map(\.rawValue)
                    let suggestion = Suggestion.closest(to: text, in: names)
                    r.diagnostics.error(location, r.join("failure_on"), "unknown failure class \"\(text)\""
                                            + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                                        fix: "use one of \(names.joined(separator: ", "))")
                }
            }
        }
        c.failureStatusCodes = Set(statusCodes(r, "failure_status_codes"))
        if c.failureOn.isEmpty && c.failureStatusCodes.isEmpty && r.has("failure_on") {
            r.diagnostics.error(r.location(of: "failure_on"), r.join("failure_on"), "nothing would count as a failure",
                                fix: "list at least one failure class (e.g. `failure_on: [5xx]`) or add failure_status_codes")
        }
        if let status = r.object("status", "envoy.type.v3.HttpStatus") {
            defer { status.finish() }
            if let code = HttpStatusCode.read(status, "code") { c.status = code }
        }
        if let enabled = r.runtimeFraction("filter_enabled") { c.filterEnabled = enabled }
        if let enforced = r.runtimeFraction("filter_enforced") { c.filterEnforced = enforced }
        return .circuitBreaker(c)
    }

    /// A list of HTTP status codes (100–599).
    static func statusCodes(_ r: ObjectReader, _ key: String) -> [Int] {
        r.list(key).compactMap { element in
            guard let text = element.node.scalarText, let code = Int(text), (100...599).contains(code) else {
                r.diagnostics.error(element.node.location, element.path, "expected an HTTP status code from 100 to 599",
                                    fix: "write each status as a number, e.g. `500`")
                return nil
            }
            return code
        }
    }
}
