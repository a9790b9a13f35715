/// `envoy.config.route.v3.RetryPolicy` (route or virtual host; a route's policy replaces the
/// virtual host's).
public struct RetryPolicy: Sendable {
    /// `retry_on` conditions Ferry evaluates.
    public struct Conditions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// Any 5xx response, and no response at all (connect failure, reset, timeout).
        public static let fiveXX = Conditions(rawValue: 1 << 0)
        /// 502, 503, 504, and no response at all.
        public static let gatewayError = Conditions(rawValue: 1 << 1)
        /// No response: disconnect, reset, per-try timeout, connect failure.
        public static let reset = Conditions(rawValue: 1 << 2)
        public static let connectFailure = Conditions(rawValue: 1 << 3)
        /// 409.
        public static let retriable4xx = Conditions(rawValue: 1 << 4)
        /// HTTP/2 REFUSED_STREAM (never seen on HTTP/1 upstreams).
        public static let refusedStream = Conditions(rawValue: 1 << 5)
        public static let retriableStatusCodes = Conditions(rawValue: 1 << 6)
        public static let retriableHeaders = Conditions(rawValue: 1 << 7)
        /// A response carrying `x-envoy-ratelimited`.
        public static let envoyRateLimited = Conditions(rawValue: 1 << 8)
        /// gRPC conditions: the response head's `grpc-status` (a trailers-only answer) is
        /// CANCELLED (1), DEADLINE_EXCEEDED (4), RESOURCE_EXHAUSTED (8), INTERNAL (13) or
        /// UNAVAILABLE (14).
        public static let grpcCancelled = Conditions(rawValue: 1 << 9)
        public static let grpcDeadlineExceeded = Conditions(rawValue: 1 << 10)
        public static let grpcResourceExhausted = Conditions(rawValue: 1 << 11)
        public static let grpcInternal = Conditions(rawValue: 1 << 12)
        public static let grpcUnavailable = Conditions(rawValue: 1 << 13)
        public static let anyGRPC: Conditions = [.grpcCancelled, .grpcDeadlineExceeded, .grpcResourceExhausted, .grpcInternal,
                                                 .grpcUnavailable]

        public static let names: [(String, Conditions)] = [
            ("5xx", .fiveXX), ("gateway-error", .gatewayError), ("reset", .reset), ("connect-failure", .connectFailure),
            ("retriable-4xx", .retriable4xx), ("refused-stream", .refusedStream),
            ("retriable-status-codes", .retriableStatusCodes), ("retriable-headers", .retriableHeaders),
            ("envoy-ratelimited", .envoyRateLimited),
        ]

        /// The gRPC conditions (`retry_on` and the `x-envoy-retry-grpc-on` header).
        public static let grpcNames: [(String, Conditions)] = [
            ("cancelled", .grpcCancelled), ("deadline-exceeded", .grpcDeadlineExceeded), ("internal", .grpcInternal),
            ("resource-exhausted", .grpcResourceExhausted), ("unavailable", .grpcUnavailable),
        ]

        /// Envoy conditions Ferry does not evaluate yet.
        static let later: Set<String> = ["http3-post-connect-failure", "reset-before-request"]

        /// Parses a comma-separated list of the conditions in `table`: HTTP and gRPC ones for
        /// `retry_on`, HTTP ones for the `x-envoy-retry-on` header, gRPC ones for
        /// `x-envoy-retry-grpc-on` (Envoy ignores the other kind in each header). Returns the
        /// conditions and the names it did not understand.
        public static func parse(_ text: String, table: [(String, Conditions)] = names + grpcNames) -> (Conditions, [String]) {
            var result = Conditions()
            var unknown: [String] = []
            for raw in text.split(separator: ",") {
                let name = raw.trimmingCharacters(in: " \t")
                guard !name.isEmpty else { continue }
                if let (_, c) = table.first(where: { $0.0 == name }) { result.insert(c) } else { unknown.append(name) }
            }
            return (result, unknown)
        }
    }

    public var conditions: Conditions = []
    public var numRetries: UInt32 = 1
    public var perTryTimeout: Duration?
    public var perTryIdleTimeout: Duration?
    /// Full-jitter exponential backoff: base 25 ms, max 10 × base (Envoy's defaults).
    public var backOffBase: Duration = .milliseconds(25)
    public var backOffMax: Duration = .milliseconds(250)
    public var retriableStatusCodes: Set<Int> = []
    public var retriableHeaders: [HeaderMatcher] = []
    public var retriableRequestHeaders: [HeaderMatcher] = []
    /// `retry_host_predicate: envoy.retry_host_predicates.previous_hosts`.
    public var avoidPreviousHosts = false
    public var hostSelectionRetryMaxAttempts: Int = 1

    public init() {}

    static let previousHostsType = "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"

    static func decode(_ r: ObjectReader) -> RetryPolicy {
        defer { r.finish() }
        var policy = RetryPolicy()
        if let text = r.string("retry_on") {
            let (conditions, unknown) = Conditions.parse(text)
            policy.conditions = conditions
            for name in unknown {
                if Conditions.later.contains(name) {
                    r.diagnostics.error(r.valueLocation(of: "retry_on"), r.join("retry_on"),
                                        "retry_on condition \"\(name)\" is not supported yet by Ferry",
                                        fix: "remove \"\(name)\" from retry_on")
                } else {
                    let known = (Conditions.names + Conditions.grpcNames).map(\.0)
                    let suggestion = Suggestion.closest(to: name, in: known)
                    r.diagnostics.error(r.valueLocation(of: "retry_on"), r.join("retry_on"),
                                        "unknown retry_on condition \"\(name)\"" + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                                        fix: "use a comma-separated list of: \(known.joined(separator: ", "))")
                }
            }
        }
        policy.numRetries = r.uint32("num_retries") ?? 1
        policy.perTryTimeout = r.duration("per_try_timeout")
        policy.perTryIdleTimeout = r.duration("per_try_idle_timeout")
        if let backOff = r.object("retry_back_off", "envoy.config.route.v3.RetryPolicy.RetryBackOff") {
            defer { backOff.finish(known: ["base_interval", "max_interval"]) }
            guard let base = backOff.duration("base_interval", positive: true) else {
                if !backOff.has("base_interval") {
                    backOff.diagnostics.error(backOff.node.location, backOff.join("base_interval"), "required field is missing",
                                              fix: "add `base_interval: 0.025s`")
                }
                backOff.skipRemaining()
                return policy
            }
            policy.backOffBase = base
            policy.backOffMax = base * 10
            if let max = backOff.duration("max_interval", positive: true) {
                if max < base {
                    backOff.diagnostics.error(backOff.valueLocation(of: "max_interval"), backOff.join("max_interval"),
                                              "max_interval must not be smaller than base_interval", fix: "raise max_interval")
                }
                policy.backOffMax = max
            }
        }
        for (value, location) in r.list("retriable_status_codes").compactMap({ e -> (Int, SourceLocation)? in
            guard let text = e.node.scalarText, let n = Int(text) else {
                r.diagnostics.error(e.node.location, e.path, "expected a status code", fix: "write a number such as 503")
                return nil
            }
            return (n, e.node.location)
        }) {
            guard (100...599).contains(value) else {
                r.diagnostics.error(location, r.join("retriable_status_codes"), "\(value) is not an HTTP status", fix: "use 100-599")
                continue
            }
            policy.retriableStatusCodes.insert(value)
        }
        policy.retriableHeaders = r.objects("retriable_headers", "envoy.config.route.v3.HeaderMatcher").compactMap(HeaderMatcher.decode)
        policy.retriableRequestHeaders = r.objects("retriable_request_headers", "envoy.config.route.v3.HeaderMatcher")
            .compactMap(HeaderMatcher.decode)
        for predicate in r.objects("retry_host_predicate", "envoy.config.route.v3.RetryPolicy.RetryHostPredicate") {
            defer { predicate.finish() }
            let name = predicate.string("name") ?? ""
            let typed = predicate.any("typed_config")
            let typeName = typed?.typeURL.split(separator: "/").last.map(String.init)
            typed?.reader.finish()
            if typeName == previousHostsType || name == "envoy.retry_host_predicates.previous_hosts" {
                policy.avoidPreviousHosts = true
            } else {
                predicate.diagnostics.error(predicate.node.location, predicate.path,
                                            "retry host predicate \(typeName ?? name) is not supported yet by Ferry",
                                            fix: "use envoy.retry_host_predicates.previous_hosts")
            }
        }
        if let attempts = r.integer("host_selection_retry_max_attempts", in: 1...1000) { policy.hostSelectionRetryMaxAttempts = Int(attempts) }
        return policy
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
