/// `ferry.filters.http.bulkhead.v1.Bulkhead`: a concurrency pool in front of the router, per
/// rule (so per route, with `typed_per_filter_config`) or per key (a request header, the client
/// address or the path). A request takes a place for its whole life; with every place taken it
/// waits in a bounded FIFO queue for up to `maxWait`, or is refused with `status` (503).
public struct BulkheadConfig: Sendable, Equatable {
    /// What splits the rule into one pool per value (`key`); nil: one pool for the rule.
    public enum Key: Sendable, Equatable, CustomStringConvertible {
        /// A request header's value (lower-cased name); requests without it share one pool.
        case header(String)
        /// The client's address (trusted x-forwarded-for applied).
        case remoteAddress
        /// The request path without the query.
        case path

        public var description: String {
            switch self {
            case .header(let name): "header:\(name)"
            case .remoteAddress: "remote_address"
            case .path: "path"
            }
        }
    }

    public var statPrefix: String
    /// Requests inside one pool at a time (required, at least 1).
    public var maxConcurrentRequests: Int
    /// Requests that may wait for a place (default 0: no queue, a full pool refuses at once).
    public var maxQueue = 0
    /// How long a queued request waits at most (required with `max_queue`).
    public var maxWait: Duration = .zero
    public var key: Key?
    /// With `key`: pools kept at once (default 1000); a new key beyond that is refused.
    public var maxKeys = 1000
    /// Reply status when full or after a queue timeout (default 503).
    public var status = 503
    /// Default 100% (a Ferry filter is on when configured).
    public var filterEnabled = RuntimeFractionalPercent.always
    /// Default 100%; at 0% the rule runs in shadow mode (counts, never queues or refuses).
    public var filterEnforced = RuntimeFractionalPercent.always

    public init(statPrefix: String, maxConcurrentRequests: Int) {
        self.statPrefix = statPrefix
        self.maxConcurrentRequests = maxConcurrentRequests
    }

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish() }
        let prefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: search` (stats are <stat_prefix>.bulkhead.*)")
        let max = r.integer("max_concurrent_requests", in: 1...1_000_000, fix: "allow at least 1 request, e.g. `max_concurrent_requests: 64`")
        if max == nil && !r.has("max_concurrent_requests") {
            r.diagnostics.error(r.node.location, r.join("max_concurrent_requests"), "required field is missing",
                                fix: "add `max_concurrent_requests: 64`")
        }
        var config = BulkheadConfig(statPrefix: prefix ?? "", maxConcurrentRequests: Int(max ?? 1))
        config.maxQueue = Int(r.integer("max_queue", in: 0...1_000_000, fix: "use 0 (no queue) up to 1000000") ?? 0)
        let wait = r.duration("max_wait", positive: true, fix: "use a positive duration such as `max_wait: 0.5s`")
        if let wait {
            config.maxWait = wait
            if config.maxQueue == 0 {
                r.diagnostics.error(r.location(of: "max_wait"), r.join("max_wait"), "max_wait has no effect without max_queue",
                                    fix: "add `max_queue: 16` (requests that may wait), or remove max_wait")
            }
        } else if config.maxQueue > 0 && !r.has("max_wait") {
            r.diagnostics.error(r.location(of: "max_queue"), r.join("max_wait"), "a queue needs max_wait (how long a request may wait)",
                                fix: "add `max_wait: 0.5s`")
        }
        if let keyReader = r.object("key", "ferry.filters.http.bulkhead.v1.Bulkhead.Key") {
            config.key = decodeKey(keyReader)
        }
        if let keys = r.integer("max_keys", in: 1...1_000_000, fix: "use a bound such as `max_keys: 1000`") {
            config.maxKeys = Int(keys)
            if !r.has("key") {
                r.diagnostics.error(r.location(of: "max_keys"), r.join("max_keys"), "max_keys has no effect without key",
                                    fix: "add `key: {header: x-tenant}` (or remote_address / path), or remove max_keys")
            }
        }
        if let status = r.object("status", "envoy.type.v3.HttpStatus") {
            defer { status.finish() }
            if let code = HttpStatusCode.read(status, "code") { config.status = code }
        }
        if let enabled = r.runtimeFraction("filter_enabled") { config.filterEnabled = enabled }
        if let enforced = r.runtimeFraction("filter_enforced") { config.filterEnforced = enforced }
        guard prefix != nil, max != nil, config.maxQueue == 0 || config.maxWait > .zero else { return nil }
        return .bulkhead(config)
    }

    /// `key: {header: x-tenant}`, `key: {remote_address: true}` or `key: {path: true}`.
    private static func decodeKey(_ r: ObjectReader) -> Key? {
        defer { r.finish() }
        guard let which = r.oneOf(["header", "remote_address", "path"], required: true, what: "bulkhead key") else { return nil }
        if which == "header" {
            guard let name = r.requiredString("header", fix: "name the header, e.g. `header: x-tenant`") else { return nil }
            return .header(name.lowercased())
        }
        guard let on = r.bool(which) else { return nil }
        guard on else {
            r.diagnostics.error(r.valueLocation(of: which), r.join(which), "`\(which): false` selects no key",
                                fix: "write `\(which): true`, or remove `key` for one pool per rule")
            return nil
        }
        return which == "path" ? .path : .remoteAddress
    }
}
