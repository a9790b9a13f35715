/// `ferry.filters.http.fallback.v1.Fallback`: when the upstream path fails in one of the ways
/// listed in `on`, answer with the first available of `actions` instead (the last good response,
/// another cluster, or a fixed reply). The same message is the listener-level config and a
/// route's `typed_per_filter_config` entry.
public struct FallbackConfig: Sendable, Equatable {
    /// Failures the fallback answers for.
    public enum Trigger: String, CaseIterable, Sendable {
        /// The circuit breaker filter refused the request.
        case circuitOpen = "circuit-open"
        /// Flag UT.
        case timeout
        /// Flag UF.
        case connectFailure = "connect-failure"
        /// A 5xx response from the upstream itself.
        case fiveXX = "5xx"
        /// Flag UC.
        case reset
        /// Flag UO from the cluster (pending, request or retry overflow).
        case overflow
        /// A 429 or flag RL (a rate limit filter's rejection).
        case rateLimited = "rate-limited"
    }

    /// Where the stale cache key comes from (besides the route).
    public enum StaleKey: Sendable, Equatable {
        case pathAndQuery
        case path
        case header(String)
        case queryParameter(String)
    }

    /// The last good (2xx) GET response per route and key, kept within the limits.
    public struct Stale: Sendable, Equatable {
        public var key = StaleKey.pathAndQuery
        /// Default 1000 (the oldest entry makes room).
        public var maxEntries = 1000
        /// Responses with a larger body are not kept; default 65536.
        public var maxBodyBytes = 65_536
        /// Older entries are not served; default 300s.
        public var maxAge: Duration = .seconds(300)
        public init() {}
    }

    public struct StaticReply: Sendable, Equatable {
        public var status = 200
        public var body = ""
        /// Lower-cased names, in order.
        public var headers: [(name: String, value: String)] = []
        public init() {}

        public static func == (a: StaticReply, b: StaticReply) -> Bool {
            a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers) { $0 == $1 }
        }
    }

    public enum Action: Sendable, Equatable {
        case stale(Stale)
        /// The cluster's name, and where it is written (the proxy checks that it exists).
        case backupCluster(String, location: SourceLocation, path: String)
        case staticReply(StaticReply)

        public static func == (a: Action, b: Action) -> Bool {
            switch (a, b) {
            case (.stale(let x), .stale(let y)): x == y
            case (.backupCluster(let x, _, _), .backupCluster(let y, _, _)): x == y
            case (.staticReply(let x), .staticReply(let y)): x == y
            default: false
            }
        }
    }

    public var statPrefix: String
    public var on: Set<Trigger> = []
    public var actions: [Action] = []
    /// Share of failures the fallback looks at (default 100%).
    public var filterEnabled = RuntimeFractionalPercent.always
    /// Share of those it answers; the rest only count (`shadow`) and keep the failure.
    public var filterEnforced = RuntimeFractionalPercent.always

    public init(statPrefix: String) { self.statPrefix = statPrefix }

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish(known: ["stat_prefix", "on", "actions", "filter_enabled", "filter_enforced"]) }
        guard let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: api` (stats are <stat_prefix>.fallback.*)") else {
            r.skipRemaining()
            return nil
        }
        var c = FallbackConfig(statPrefix: prefix)
        let names = Trigger.allCases.map(\.rawValue)
        for (text, location) in r.strings("on") {
            guard let trigger = Trigger(rawValue: text) else {
                let suggestion = Suggestion.closest(to: text, in: names)
                r.diagnostics.error(location, r.join("on"), "unknown fallback trigger \"\(text)\""
                                        + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                                    fix: "use one of \(names.joined(separator: ", "))")
                continue
            }
            c.on.insert(trigger)
        }
        if c.on.isEmpty && !r.has("on") {
            r.diagnostics.error(r.node.location, r.join("on"), "required field is missing",
                                fix: "list the failures to answer for, e.g. `on: [circuit-open, 5xx, connect-failure]`")
        }
        var seenStale = false
        for action in r.objects("actions", "ferry.filters.http.fallback.v1.Action") {
            guard let decoded = decodeAction(action) else { continue }
            if case .stale = decoded {
                // One stale cache per rule: a second would never be consulted.
                if seenStale {
                    r.diagnostics.error(action.node.location, action.path, "a fallback has at most one stale action",
                                        fix: "remove this stale action, or merge its settings into the first")
                    continue
                }
                seenStale = true
            }
            c.actions.append(decoded)
        }
        if c.actions.isEmpty && !r.has("actions") {
            r.diagnostics.error(r.node.location, r.join("actions"), "required field is missing",
                                fix: "add e.g. `actions: [{stale: {}}, {static: {status: 503, body: unavailable}}]`")
        }
        if let enabled = r.runtimeFraction("filter_enabled") { c.filterEnabled = enabled }
        if let enforced = r.runtimeFraction("filter_enforced") { c.filterEnforced = enforced }
        return .fallback(c)
    }

    private static func decodeAction(_ r: ObjectReader) -> Action? {
        defer { r.finish(known: ["stale", "backup_cluster", "static"]) }
        switch r.oneOf(["stale", "backup_cluster", "static"], required: true, what: "fallback action") {
        case "stale":
            return r.object("stale", "ferry.filters.http.fallback.v1.Stale").map { .stale(decodeStale($0)) }
        case "backup_cluster":
            guard let name = r.requiredString("backup_cluster", fix: "name a cluster of static_resources.clusters") else { return nil }
            return .backupCluster(name, location: r.valueLocation(of: "backup_cluster"), path: r.join("backup_cluster"))
        case "static":
            guard let s = r.object("static", "ferry.filters.http.fallback.v1.Static") else { return nil }
            defer { s.finish(known: ["status", "body", "headers"]) }
            var reply = StaticReply()
            if let status = s.integer("status", in: 200...599, fix: "use a status from 200 to 599") { reply.status = Int(status) }
            reply.body = s.string("body") ?? ""
            for header in s.objects("headers", "ferry.filters.http.fallback.v1.Header") {
                defer { header.finish(known: ["key", "value"]) }
                guard let key = header.requiredString("key", fix: "write `{key: content-type, value: application/json}`") else { continue }
                reply.headers.append((key.lowercased(), header.string("value") ?? ""))
            }
            return .staticReply(reply)
        default:
            return nil
        }
    }

    private static func decodeStale(_ r: ObjectReader) -> Stale {
        defer { r.finish(known: ["key", "max_entries", "max_body_bytes", "max_age"]) }
        var stale = Stale()
        if let key = r.object("key", "ferry.filters.http.fallback.v1.StaleKey") {
            defer { key.finish(known: ["path_and_query", "path", "header", "query_parameter"]) }
            switch key.oneOf(["path_and_query", "path", "header", "query_parameter"], required: true, what: "stale key") {
            case let flag? where flag == "path" || flag == "path_and_query":
                if key.bool(flag) == false {
                    key.diagnostics.error(key.valueLocation(of: flag), key.join(flag), "\(flag): false selects no key",
                                          fix: "write `\(flag): true`, or remove `key` for the default (path and query)")
                } else if flag == "path" {
                    stale.key = .path
                }
            case "header":
                if let name = key.requiredString("header", fix: "name a request header, e.g. `header: x-user`") {
                    stale.key = .header(name.lowercased())
                }
            case "query_parameter":
                if let name = key.requiredString("query_parameter", fix: "name a query parameter, e.g. `query_parameter: id`") {
                    stale.key = .queryParameter(name)
                }
            default: break
            }
        }
        if let n = r.integer("max_entries", in: 1...1_000_000, fix: "use 1 to 1000000 entries") { stale.maxEntries = Int(n) }
        if let n = r.integer("max_body_bytes", in: 0...16_777_216, fix: "use at most 16777216 bytes (16 MiB)") {
            stale.maxBodyBytes = Int(n)
        }
        if let age = r.duration("max_age", positive: true, fix: "use a duration such as `300s`") { stale.maxAge = age }
        return stale
    }
}
