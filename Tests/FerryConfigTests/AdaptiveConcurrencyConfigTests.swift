@testable import FerryConfig
import Testing

/// `envoy.filters.http.adaptive_concurrency`: Envoy 1.40's fields and defaults, and located
/// refusals of what Envoy refuses or Ferry does not support yet.
@Suite("Adaptive concurrency filter config")
struct AdaptiveConcurrencyConfigTests {
    static let type = "type.googleapis.com/envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency"
    static let filterPath = "\(Fixture.hcm).http_filters[0].typed_config"
    static let gradientPath = "\(filterPath).gradient_controller_config"

    static func yaml(limits: String = "concurrency_update_interval: 0.1s", minRTT: String = "interval: 60s", gradient: String = "",
                     extra: String = "") -> String {
        var filter = """
            - name: envoy.filters.http.adaptive_concurrency
              typed_config:
                "@type": \(type)
                gradient_controller_config:
                  concurrency_limit_params: {\(limits)}
                  min_rtt_calc_params: {\(minRTT)}
            """
        if !gradient.isEmpty { filter += "\n      " + gradient }
        if !extra.isEmpty { filter += "\n    " + extra.replacingOccurrences(of: "\n", with: "\n    ") }
        return Fixture.bootstrap(httpFilters: filter + "\n" + Fixture.router)
    }

    static func config(_ yaml: String) -> AdaptiveConcurrencyConfig? {
        guard case .adaptiveConcurrency(let c)? = Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.httpFilters.first?.kind
        else { return nil }
        return c
    }

    @Test("the minimal config gets Envoy's defaults: p50, limit 1000, 50 requests, 15% jitter, min_concurrency 3, 25% buffer, enabled, 503")
    func defaults() throws {
        let c = try #require(Self.config(Self.yaml()))
        #expect(c.concurrencyUpdateInterval == .milliseconds(100) && c.minRTTInterval == .seconds(60))
        #expect(c.sampleAggregatePercentile == 50 && c.maxConcurrencyLimit == 1000 && c.minConcurrencyLimit == nil)
        #expect(c.minRTTRequestCount == 50 && c.jitterPercent == 15 && c.minConcurrency == 3 && c.bufferPercent == 25)
        #expect(c.enabled == RuntimeFeatureFlag(true) && c.status == 503)
    }

    @Test("every field is read: percentile, limits, window parameters, the enabled flag and the status")
    func allFields() throws {
        let c = try #require(Self.config(Self.yaml(
            limits: "concurrency_update_interval: 0.25s, max_concurrency_limit: 200, min_concurrency_limit: 4",
            minRTT: "interval: 30s, request_count: 20, jitter: {value: 5}, min_concurrency: 2, buffer: {value: 10}",
            gradient: "sample_aggregate_percentile: {value: 90}",
            extra: "enabled: {default_value: false, runtime_key: ac.on}\nconcurrency_limit_exceeded_status: {code: 429}")))
        #expect(c.concurrencyUpdateInterval == .milliseconds(250) && c.maxConcurrencyLimit == 200 && c.minConcurrencyLimit == 4)
        #expect(c.minRTTInterval == .seconds(30) && c.minRTTRequestCount == 20 && c.jitterPercent == 5)
        #expect(c.minConcurrency == 2 && c.bufferPercent == 10 && c.sampleAggregatePercentile == 90)
        #expect(c.enabled == RuntimeFeatureFlag(false, runtimeKey: "ac.on") && c.status == 429)
    }

    @Test("a status below 400 means 503, as Envoy documents, with a warning")
    func lowStatus() throws {
        let yaml = Self.yaml(extra: "concurrency_limit_exceeded_status: {code: 200}")
        #expect(try #require(Self.config(yaml)).status == 503)
        #expect(Fixture.diagnostics(yaml).contains { $0.severity == .warning && $0.message.contains("below 400") })
    }

    @Test("max_concurrency_limit below the floor keeps the limit at the floor, as Envoy's clamp does, with a warning")
    func maxBelowFloor() throws {
        let yaml = Self.yaml(limits: "concurrency_update_interval: 0.1s, max_concurrency_limit: 1")
        #expect(try #require(Self.config(yaml)).maxConcurrencyLimit == 3)
        #expect(Fixture.diagnostics(yaml).contains { $0.severity == .warning && $0.message.contains("below the floor 3") })
    }

    @Test("fixed_value is refused as not supported yet, and interval stays required as Envoy requires one of the two")
    func fixedValue() {
        let yaml = Self.yaml(minRTT: "fixed_value: 0.05s")
        Fixture.expectError(yaml, at: "fixed_value", path: "\(Self.gradientPath).min_rtt_calc_params.fixed_value",
                            message: "MinimumRTTCalculationParams.fixed_value is not supported yet")
        Fixture.expectError(yaml, at: "{fixed_value", path: "\(Self.gradientPath).min_rtt_calc_params.interval",
                            message: "required field is missing")
    }

    @Test("Envoy's validation rules are located errors: the update interval, interval ≥ 1ms, percents 0–100, counts above 0, enabled needs default_value")
    func errors() {
        Fixture.expectOneError(Self.yaml(limits: "max_concurrency_limit: 10"), at: "{max_concurrency_limit",
                               path: "\(Self.gradientPath).concurrency_limit_params.concurrency_update_interval",
                               message: "required field is missing")
        Fixture.expectOneError(Self.yaml(minRTT: "interval: 0.0005s"), at: "0.0005s",
                               path: "\(Self.gradientPath).min_rtt_calc_params.interval", message: "at least")
        Fixture.expectOneError(Self.yaml(gradient: "sample_aggregate_percentile: {value: 150}"), at: "150",
                               path: "\(Self.gradientPath).sample_aggregate_percentile.value", message: "out of range")
        Fixture.expectOneError(Self.yaml(minRTT: "interval: 60s, min_concurrency: 0"), at: "0}", after: "min_concurrency:",
                               path: "\(Self.gradientPath).min_rtt_calc_params.min_concurrency", message: "out of range")
        Fixture.expectOneError(Self.yaml(extra: "enabled: {runtime_key: x}"), at: "{runtime_key",
                               path: "\(Self.filterPath).enabled.default_value", message: "required field is missing")
        Fixture.expectOneError(Self.yaml(minRTT: "interval: 60s, jiter: {value: 5}"), at: "jiter",
                               path: "\(Self.gradientPath).min_rtt_calc_params.jiter", message: "did you mean \"jitter\"")
    }

    @Test("the runtime value of enabled is read as Envoy's getBoolean: integers, true/false in any case, else the default")
    func runtimeFlag() {
        let flag = RuntimeFeatureFlag(true, runtimeKey: "k")
        #expect(flag.value(runtime: nil) && !flag.value(runtime: "0") && !flag.value(runtime: "false"))
        #expect(!flag.value(runtime: " FALSE ") && flag.value(runtime: "junk") && flag.value(runtime: "2"))
        #expect(RuntimeFeatureFlag(false).value(runtime: "TRUE") && !RuntimeFeatureFlag(false).value(runtime: "maybe"))
    }
}
