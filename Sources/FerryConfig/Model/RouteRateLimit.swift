/// `envoy.config.route.v3.RateLimit`: the actions that turn a request into one rate limit
/// descriptor. Written on a `RouteAction`, a `VirtualHost` or in a `LocalRateLimit`'s own
/// `rate_limits`; the local rate limit filter matches the descriptors against its `descriptors`.
///
/// As in Envoy 1.40, the actions run in order and each adds at most one entry; an action that
/// cannot produce its entry (a missing header without `skip_if_absent`, a header or query match
/// that came out the wrong way, no route for `destination_cluster`) drops the whole descriptor.
public struct RouteRateLimit: Sendable {
    public enum Action: Sendable {
        /// `source_cluster`: `("source_cluster", node.cluster)`.
        case sourceCluster
        /// `destination_cluster`: `("destination_cluster", <the route's cluster>)`.
        case destinationCluster
        /// `request_headers`: `(key, first value of the header)`.
        case requestHeaders(header: String, key: String, skipIfAbsent: Bool)
        /// `query_parameters`: `(key, first value of the percent-decoded parameter)`.
        case queryParameters(name: String, key: String, skipIfAbsent: Bool)
        /// `remote_address`: `("remote_address", <client IP>)` (the x-forwarded-for address when trusted).
        case remoteAddress
        /// `masked_remote_address`: `("masked_remote_address", "<network>/<length>")`.
        case maskedRemoteAddress(v4: Int, v6: Int)
        /// `generic_key`: `(key, value)`, always.
        case genericKey(key: String, value: String)
        /// `header_value_match`: `(key, value)` when every matcher's result equals `expectMatch`.
        case headerValueMatch(key: String, value: String, expectMatch: Bool, headers: [HeaderMatcher])
        /// `query_parameter_value_match`: as `headerValueMatch`, over query parameters.
        case queryParameterValueMatch(key: String, value: String, expectMatch: Bool, parameters: [QueryParameterMatcher])
    }

    /// 0...10; a local rate limit filter uses the entries of its own `stage`.
    public var stage: UInt32 = 0
    /// Non-empty: the local rate limit filter skips this entry (as Envoy 1.40 does).
    public var disableKey = ""
    public var actions: [Action]

    public init(actions: [Action], stage: UInt32 = 0, disableKey: String = "") {
        self.actions = actions
        self.stage = stage
        self.disableKey = disableKey
    }

    static let message = "envoy.config.route.v3.RateLimit"

    /// The `rate_limits` list of `r`. `filterLevel`: the list of a `LocalRateLimit`, where
    /// Envoy refuses `stage`, `disable_key` and `limit`.
    static func decodeList(_ r: ObjectReader, filterLevel: Bool = false) -> [RouteRateLimit] {
        r.objects("rate_limits", message).compactMap { decode($0, filterLevel: filterLevel) }
    }

    static func decode(_ r: ObjectReader, filterLevel: Bool) -> RouteRateLimit? {
        defer { r.finish() }
        if filterLevel {
            for field in ["stage", "disable_key", "limit"] where r.has(field) {
                r.accept(field)
                r.diagnostics.error(r.location(of: field), r.join(field),
                                    "a LocalRateLimit's own rate_limits cannot set \(field) (Envoy refuses it)",
                                    fix: "remove it; the filter's `stage` selects route-level rate_limits only")
            }
        }
        let stage = filterLevel ? 0 : r.uint32("stage", in: 0...10, fix: "use a stage from 0 to 10") ?? 0
        let disableKey = filterLevel ? "" : r.string("disable_key") ?? ""
        if r.bool("apply_on_stream_done") == true {
            notSupported(r, "apply_on_stream_done", "Ferry computes descriptors when the request starts")
        }
        if let option = r.string("x_ratelimit_option"), option != "UNSPECIFIED", option != "0" {
            notSupported(r, "x_ratelimit_option", "the filter's enable_x_ratelimit_headers applies to every descriptor")
        }
        let actions = r.objects("actions", "envoy.config.route.v3.RateLimit.Action").compactMap(decodeAction)
        if count(r, "actions") == 0 {
            r.diagnostics.error(r.has("actions") ? r.valueLocation(of: "actions") : r.node.location, r.join("actions"),
                                "a rate limit needs at least one action",
                                fix: "add e.g. `actions: [{remote_address: {}}]`")
            return nil
        }
        return RouteRateLimit(actions: actions, stage: stage, disableKey: disableKey)
    }

    private static func notSupported(_ r: ObjectReader, _ field: String, _ why: String) {
        r.diagnostics.error(r.location(of: field), r.join(field),
                            "RateLimit.\(field) is not supported yet by Ferry (\(why))", fix: "remove it")
    }

    private static let actionNames = ["source_cluster", "destination_cluster", "request_headers", "query_parameters",
                                      "remote_address", "generic_key", "header_value_match", "dynamic_metadata", "metadata",
                                      "extension", "masked_remote_address", "query_parameter_value_match", "remote_address_match"]

    /// One action; the kinds Ferry lacks (`dynamic_metadata`, `metadata`, `extension`,
    /// `remote_address_match`) stay unread, so `finish()` names them as not supported yet.
    static func decodeAction(_ r: ObjectReader) -> Action? {
        defer { r.finish() }
        let kind = r.oneOf(actionNames, required: true, what: "rate limit action")
        let type = "envoy.config.route.v3.RateLimit.Action."
        switch kind {
        case "source_cluster":
            r.object(kind!, type + "SourceCluster")?.finish()
            return .sourceCluster
        case "destination_cluster":
            r.object(kind!, type + "DestinationCluster")?.finish()
            return .destinationCluster
        case "remote_address":
            r.object(kind!, type + "RemoteAddress")?.finish()
            return .remoteAddress
        case "request_headers":
            guard let a = r.object(kind!, type + "RequestHeaders") else { return nil }
            defer { a.finish() }
            let header = a.requiredString("header_name", fix: "name the header, e.g. `header_name: x-api-key`")
            let key = a.requiredString("descriptor_key", fix: "name the descriptor entry, e.g. `descriptor_key: api_key`")
            let skip = a.bool("skip_if_absent") ?? false
            guard let header, let key else { return nil }
            return .requestHeaders(header: header.lowercased(), key: key, skipIfAbsent: skip)
        case "query_parameters":
            guard let a = r.object(kind!, type + "QueryParameters") else { return nil }
            defer { a.finish() }
            let name = a.requiredString("query_parameter_name", fix: "name the parameter, e.g. `query_parameter_name: user`")
            let key = a.requiredString("descriptor_key", fix: "name the descriptor entry, e.g. `descriptor_key: user`")
            let skip = a.bool("skip_if_absent") ?? false
            guard let name, let key else { return nil }
            return .queryParameters(name: name, key: key, skipIfAbsent: skip)
        case "masked_remote_address":
            guard let a = r.object(kind!, type + "MaskedRemoteAddress") else { return nil }
            defer { a.finish() }
            let v4 = a.integer("v4_prefix_mask_len", in: 0...32, fix: "use a prefix length from 0 to 32") ?? 32
            let v6 = a.integer("v6_prefix_mask_len", in: 0...128, fix: "use a prefix length from 0 to 128") ?? 128
            return .maskedRemoteAddress(v4: Int(v4), v6: Int(v6))
        case "generic_key":
            guard let a = r.object(kind!, type + "GenericKey") else { return nil }
            defer { a.finish() }
            let key = a.string("descriptor_key").flatMap { $0.isEmpty ? nil : $0 } ?? "generic_key"
            guard let value = a.requiredString("descriptor_value", fix: "add `descriptor_value: ...`") else { return nil }
            return .genericKey(key: key, value: value)
        case "header_value_match":
            guard let a = r.object(kind!, type + "HeaderValueMatch") else { return nil }
            defer { a.finish() }
            let (key, value, expect) = matchFields(a, defaultKey: "header_match")
            let headers = a.objects("headers", "envoy.config.route.v3.HeaderMatcher").compactMap(HeaderMatcher.decode)
            guard requireMatchers(a, "headers", example: "headers: [{name: x-canary, exact_match: \"1\"}]"),
                  let value, headers.count == count(a, "headers") else { return nil }
            return .headerValueMatch(key: key, value: value, expectMatch: expect, headers: headers)
        case "query_parameter_value_match":
            guard let a = r.object(kind!, type + "QueryParameterValueMatch") else { return nil }
            defer { a.finish() }
            let (key, value, expect) = matchFields(a, defaultKey: "query_match")
            let parameters = a.objects("query_parameters", "envoy.config.route.v3.QueryParameterMatcher")
                .compactMap(QueryParameterMatcher.decode)
            guard requireMatchers(a, "query_parameters", example: "query_parameters: [{name: debug, present_match: true}]"),
                  let value, parameters.count == count(a, "query_parameters") else { return nil }
            return .queryParameterValueMatch(key: key, value: value, expectMatch: expect, parameters: parameters)
        default:
            return nil
        }
    }

    private static func matchFields(_ r: ObjectReader, defaultKey: String) -> (key: String, value: String?, expect: Bool) {
        let key = r.string("descriptor_key").flatMap { $0.isEmpty ? nil : $0 } ?? defaultKey
        let value = r.requiredString("descriptor_value", fix: "add `descriptor_value: ...`")
        return (key, value, r.bool("expect_match") ?? true)
    }

    /// Elements of a repeated field (already reported when it is not a list).
    private static func count(_ r: ObjectReader, _ field: String) -> Int { r.raw(field)?.elements?.count ?? 0 }

    private static func requireMatchers(_ r: ObjectReader, _ field: String, example: String) -> Bool {
        guard count(r, field) == 0 else { return true }
        r.diagnostics.error(r.has(field) ? r.valueLocation(of: field) : r.node.location, r.join(field),
                            "needs at least one matcher", fix: "add e.g. `\(example)`")
        return false
    }
}
