@testable import FerryConfig
import Testing

/// `envoy.filters.http.local_ratelimit` descriptors and `envoy.config.route.v3.RateLimit`
/// actions: what decodes (with Envoy's defaults), and every refusal located with a fix, worded
/// after Envoy 1.40's own validation where Envoy refuses the same thing.
@Suite("Local rate limit descriptors and rate_limits config")
struct LocalRateLimitConfigTests {
    static let type = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
    static let filterPath = "\(Fixture.hcm).http_filters[0].typed_config"

    static func yaml(_ fields: String, routes: String = Fixture.defaultRoutes, virtualHost: String = "") -> String {
        Fixture.bootstrap(routes: routes, virtualHostFields: virtualHost, httpFilters: """
            - name: envoy.filters.http.local_ratelimit
              typed_config:
                "@type": \(type)
                stat_prefix: lrl
                token_bucket: {max_tokens: 10, fill_interval: 1s}
                \(fields.replacingOccurrences(of: "\n", with: "\n    "))
            """ + "\n" + Fixture.router)
    }

    static func config(_ yaml: String) -> LocalRateLimitConfig? {
        guard case .localRateLimit(let c)? = Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.httpFilters.first?.kind
        else { return nil }
        return c
    }

    /// A route forwarding to `backend` with `rate_limits: <list>`.
    static func routeLimits(_ list: String) -> String {
        """
        - match: {prefix: "/"}
          route:
            cluster: backend
            rate_limits: \(list)
        """
    }

    static let routeLimitsPath = "\(Fixture.route(0)).route.rate_limits"

    @Test("descriptors decode with their buckets; a descriptor with an empty value is a wildcard; Envoy's defaults otherwise")
    func descriptors() throws {
        let c = try #require(Self.config(Self.yaml("""
            descriptors:
            - entries: [{key: client, value: gold}]
              token_bucket: {max_tokens: 5, tokens_per_fill: 2, fill_interval: 2s}
            - entries: [{key: client}, {key: path, value: /a}]
              token_bucket: {max_tokens: 1, fill_interval: 60s}
            """)))
        #expect(c.descriptors.count == 2)
        #expect(c.descriptors[0].descriptor == RateLimitDescriptor([.init("client", "gold")]))
        #expect(c.descriptors[0].tokenBucket == .init(maxTokens: 5, tokensPerFill: 2, fillInterval: .seconds(2)))
        #expect(!c.descriptors[0].isWildcard && c.descriptors[1].isWildcard)
        #expect(c.descriptors[1].descriptor.description == "client=, path=/a")
        #expect(c.alwaysConsumeDefaultTokenBucket && c.stage == 0 && c.vhRateLimits == .override)
        #expect(c.maxDynamicDescriptors == 20 && c.rateLimits.isEmpty)
    }

    @Test("the filter's own fields: stage, vh_rate_limits, always_consume_default_token_bucket, max_dynamic_descriptors, rate_limits")
    func filterFields() throws {
        let c = try #require(Self.config(Self.yaml("""
            stage: 3
            vh_rate_limits: INCLUDE
            always_consume_default_token_bucket: false
            max_dynamic_descriptors: 500
            rate_limits: [{actions: [{remote_address: {}}, {generic_key: {descriptor_value: api}}]}]
            """)))
        #expect(c.stage == 3 && c.vhRateLimits == .include && !c.alwaysConsumeDefaultTokenBucket && c.maxDynamicDescriptors == 500)
        let actions = try #require(c.rateLimits.only?.actions)
        guard actions.count == 2, case .remoteAddress = actions[0], case .genericKey(let key, let value) = actions[1] else {
            Issue.record("actions: \(actions)")
            return
        }
        #expect(key == "generic_key" && value == "api")
    }

    @Test("every supported action decodes, with Envoy's default keys, expect_match true and mask lengths 32/128")
    func actions() throws {
        let yaml = Self.yaml("", routes: Self.routeLimits("""
            [{stage: 2, disable_key: off_switch, actions: [\
            {source_cluster: {}}, {destination_cluster: {}}, \
            {request_headers: {header_name: X-User, descriptor_key: user, skip_if_absent: true}}, \
            {query_parameters: {query_parameter_name: q, descriptor_key: query}}, \
            {remote_address: {}}, {masked_remote_address: {v4_prefix_mask_len: 24}}, \
            {generic_key: {descriptor_key: k, descriptor_value: v}}, \
            {header_value_match: {descriptor_value: hv, expect_match: false, headers: [{name: x-a, present_match: true}]}}, \
            {query_parameter_value_match: {descriptor_value: qv, query_parameters: [{name: debug}]}}]}]
            """), virtualHost: "rate_limits: [{actions: [{remote_address: {}}]}]")
        let bootstrap = try #require(Fixture.load(yaml))
        let host = try #require(bootstrap.listeners.first?.httpConnectionManager?.routeConfig.virtualHosts.first)
        #expect(host.rateLimits.count == 1)
        guard case .route(let action)? = host.routes.first?.action, let limit = action.rateLimits.only else {
            Issue.record("no route rate limit")
            return
        }
        #expect(limit.stage == 2 && limit.disableKey == "off_switch" && !action.includeVhRateLimits)
        let a = limit.actions
        #expect(a.count == 9)
        guard a.count == 9,
              case .sourceCluster = a[0], case .destinationCluster = a[1],
              case .requestHeaders("x-user", "user", true) = a[2],
              case .queryParameters("q", "query", false) = a[3],
              case .remoteAddress = a[4], case .maskedRemoteAddress(24, 128) = a[5],
              case .genericKey("k", "v") = a[6],
              case .headerValueMatch("header_match", "hv", false, let headers) = a[7],
              case .queryParameterValueMatch("query_match", "qv", true, let parameters) = a[8]
        else {
            Issue.record("actions: \(a)")
            return
        }
        #expect(headers.count == 1 && parameters.count == 1)
    }

    @Test("descriptor errors: a duplicate, no entries, an empty key, no token bucket, a fill interval under 50 ms, shadow_mode")
    func descriptorErrors() {
        let bucket = "token_bucket: {max_tokens: 1, fill_interval: 1s}"
        Fixture.expectOneError(Self.yaml("descriptors: [{entries: [{key: a, value: b}], \(bucket)}, {entries: [{key: a, value: b}], \(bucket)}]"),
                               at: "{entries: [{key: a, value: b}]", occurrence: 2, path: "\(Self.filterPath).descriptors[1]",
                               message: "duplicate descriptor in the local rate descriptor: a=b")
        Fixture.expectOneError(Self.yaml("descriptors: [{entries: [], \(bucket)}]"), at: "[]",
                               path: "\(Self.filterPath).descriptors[0].entries", message: "at least one entry")
        Fixture.expectOneError(Self.yaml("descriptors: [{entries: [{key: \"\", value: b}], \(bucket)}]"), at: "\"\"",
                               path: "\(Self.filterPath).descriptors[0].entries[0].key", message: "must not be empty")
        Fixture.expectOneError(Self.yaml("descriptors: [{entries: [{key: a}]}]"), at: "{entries",
                               path: "\(Self.filterPath).descriptors[0].token_bucket", message: "required field is missing")
        Fixture.expectOneError(Self.yaml("descriptors: [{entries: [{key: a}], token_bucket: {max_tokens: 1, fill_interval: 0.01s}}]"),
                               at: "0.01s", path: "\(Self.filterPath).descriptors[0].token_bucket.fill_interval", message: "at least 50ms")
        Fixture.expectOneError(Self.yaml("descriptors: [{entries: [{key: a}], \(bucket), shadow_mode: true}]"), at: "shadow_mode",
                               path: "\(Self.filterPath).descriptors[0].shadow_mode", message: "not supported yet by Ferry")
    }

    @Test("filter errors: stage over 10, max_dynamic_descriptors 0, an unknown vh_rate_limits, enable_retry_after_header, local_cluster_rate_limit")
    func filterErrors() {
        Fixture.expectOneError(Self.yaml("stage: 11"), at: "11", path: "\(Self.filterPath).stage", message: "out of range 0...10")
        Fixture.expectOneError(Self.yaml("max_dynamic_descriptors: 0"), at: "0", after: "max_dynamic_descriptors",
                               path: "\(Self.filterPath).max_dynamic_descriptors", message: "out of range")
        Fixture.expectOneError(Self.yaml("vh_rate_limits: INCLUDES"), at: "INCLUDES", path: "\(Self.filterPath).vh_rate_limits",
                               message: "did you mean INCLUDE?")
        Fixture.expectOneError(Self.yaml("enable_retry_after_header: true"), at: "enable_retry_after_header",
                               path: "\(Self.filterPath).enable_retry_after_header", message: "not supported yet by Ferry")
        Fixture.expectOneError(Self.yaml("local_cluster_rate_limit: {}"), at: "local_cluster_rate_limit",
                               path: "\(Self.filterPath).local_cluster_rate_limit", message: "not supported yet by Ferry")
    }

    @Test("the filter's own rate_limits refuse stage, disable_key and limit, as Envoy does")
    func filterLevelRefusals() {
        for field in ["stage: 1", "disable_key: k", "limit: {dynamic_metadata: {metadata_key: {key: a, path: [{key: b}]}}}"] {
            let name = String(field.prefix { $0 != ":" })
            Fixture.expectOneError(Self.yaml("rate_limits: [{\(field), actions: [{remote_address: {}}]}]"), at: name + ":", after: "rate_limits",
                                   path: "\(Self.filterPath).rate_limits[0].\(name)", message: "cannot set \(name) (Envoy refuses it)")
        }
    }

    @Test("rate_limits errors: no actions, an empty action, two kinds in one action, stage over 10, missing required fields")
    func rateLimitErrors() {
        let path = "\(Self.routeLimitsPath)[0]"
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{stage: 1}]")), at: "{stage: 1}",
                               path: "\(path).actions", message: "at least one action")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{}]}]")), at: "{}]",
                               path: "\(path).actions[0]", message: "rate limit action is missing")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{source_cluster: {}, remote_address: {}}]}]")),
                               at: "remote_address", path: "\(path).actions[0].remote_address", message: "only one of")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{stage: 11, actions: [{remote_address: {}}]}]")),
                               at: "11", path: "\(path).stage", message: "out of range 0...10")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{request_headers: {header_name: x-a}}]}]")),
                               at: "{header_name", path: "\(path).actions[0].request_headers.descriptor_key", message: "required field is missing")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{query_parameters: {descriptor_key: q}}]}]")),
                               at: "{descriptor_key", path: "\(path).actions[0].query_parameters.query_parameter_name",
                               message: "required field is missing")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{generic_key: {descriptor_key: k}}]}]")),
                               at: "{descriptor_key", path: "\(path).actions[0].generic_key.descriptor_value", message: "required field is missing")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{header_value_match: {descriptor_value: v}}]}]")),
                               at: "{descriptor_value", path: "\(path).actions[0].header_value_match.headers", message: "at least one matcher")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{query_parameter_value_match: {descriptor_value: v, query_parameters: []}}]}]")),
                               at: "[]", path: "\(path).actions[0].query_parameter_value_match.query_parameters", message: "at least one matcher")
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{masked_remote_address: {v4_prefix_mask_len: 33}}]}]")),
                               at: "33", path: "\(path).actions[0].masked_remote_address.v4_prefix_mask_len", message: "out of range 0...32")
    }

    @Test("actions and fields Ferry lacks are refused by name: metadata, dynamic_metadata, extension, remote_address_match, default_value, limit, hits_addend, apply_on_stream_done, x_ratelimit_option")
    func unsupportedByName() {
        let path = "\(Self.routeLimitsPath)[0]"
        let actions = [
            ("metadata", "{metadata: {descriptor_key: m, metadata_key: {key: a, path: [{key: b}]}}}"),
            ("dynamic_metadata", "{dynamic_metadata: {descriptor_key: m, metadata_key: {key: a, path: [{key: b}]}}}"),
            ("extension", "{extension: {name: x}}"),
            ("remote_address_match", "{remote_address_match: {descriptor_value: v}}"),
        ]
        for (name, action) in actions {
            Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [\(action)]}]")), at: name, after: "rate_limits",
                                   path: "\(path).actions[0].\(name)", message: "RateLimit.Action.\(name) is not supported yet by Ferry")
        }
        Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{actions: [{generic_key: {descriptor_value: v, default_value: d}}]}]")),
                               at: "default_value", path: "\(path).actions[0].generic_key.default_value", message: "not supported yet by Ferry")
        let fields = ["limit: {dynamic_metadata: {metadata_key: {key: a, path: [{key: b}]}}}", "hits_addend: {number: 2}",
                      "apply_on_stream_done: true", "x_ratelimit_option: OFF"]
        for field in fields {
            let name = String(field.prefix { $0 != ":" })
            Fixture.expectOneError(Self.yaml("", routes: Self.routeLimits("[{\(field), actions: [{remote_address: {}}]}]")), at: name + ":",
                                   after: "rate_limits", path: "\(path).\(name)", message: "not supported yet by Ferry")
        }
    }

    @Test("IP addresses mask and print as inet_ntop does")
    func ipText() throws {
        let v4 = try #require(IPAddressBytes("10.1.2.3"))
        #expect(v4.masked(to: 16).text == "10.1.0.0" && v4.masked(to: 32).text == "10.1.2.3" && v4.masked(to: 0).text == "0.0.0.0")
        #expect(try #require(IPAddressBytes("2001:db8:0:0:1:0:0:1")).text == "2001:db8::1:0:0:1")
        #expect(try #require(IPAddressBytes("2001:db8:abcd:12::1")).masked(to: 48).text == "2001:db8:abcd::")
        #expect(try #require(IPAddressBytes("::1")).text == "::1")
        #expect(try #require(IPAddressBytes("::ffff:10.0.0.1")).text == "::ffff:10.0.0.1")
        #expect(try #require(IPAddressBytes("1:2:3:4:5:6:7:0")).text == "1:2:3:4:5:6:7:0")
    }
}
