/// `envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency` with its
/// `GradientControllerConfig`: a concurrency limit that follows upstream latency. Defaults are
/// Envoy 1.40's, written on each field.
public struct AdaptiveConcurrencyConfig: Sendable, Equatable {
    /// `sample_aggregate_percentile`: the percentile that summarises a window's latencies (50).
    public var sampleAggregatePercentile: Double = 50
    /// `concurrency_limit_params.max_concurrency_limit` (1000).
    public var maxConcurrencyLimit = 1000
    /// `concurrency_limit_params.concurrency_update_interval` (required).
    public var concurrencyUpdateInterval: Duration
    /// `concurrency_limit_params.min_concurrency_limit`: the limit's floor; when set, minRTT
    /// windows leave the limit alone. Unset: `minConcurrency`.
    public var minConcurrencyLimit: Int?
    /// `min_rtt_calc_params.interval` (required while `fixed_value` is not supported).
    public var minRTTInterval: Duration
    /// `min_rtt_calc_params.request_count` (50).
    public var minRTTRequestCount = 50
    /// `min_rtt_calc_params.jitter`, percent of the interval (15).
    public var jitterPercent: Double = 15
    /// `min_rtt_calc_params.min_concurrency`: the limit while minRTT is measured (3).
    public var minConcurrency = 3
    /// `min_rtt_calc_params.buffer`, percent added to minRTT (25).
    public var bufferPercent: Double = 25
    /// `enabled`: unset, the filter is on.
    public var enabled = RuntimeFeatureFlag(true)
    /// `concurrency_limit_exceeded_status` (503; Envoy uses 503 for a code below 400).
    public var status = 503

    public init(concurrencyUpdateInterval: Duration, minRTTInterval: Duration) {
        self.concurrencyUpdateInterval = concurrencyUpdateInterval
        self.minRTTInterval = minRTTInterval
    }

    static let messageName = "envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency"
    static let gradientMessage = "envoy.extensions.filters.http.adaptive_concurrency.v3.GradientControllerConfig"
    /// Ferry's bound on the intervals, so deadline arithmetic stays far from overflow.
    static let longestInterval = Duration.seconds(365 * 86_400)

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish() }
        let gradient = r.object("gradient_controller_config", gradientMessage)
        if gradient == nil && !r.has("gradient_controller_config") {
            r.diagnostics.error(r.node.location, r.join("gradient_controller_config"), "required field is missing (the controller to use)",
                                fix: "add `gradient_controller_config: {concurrency_limit_params: {concurrency_update_interval: 0.1s}, min_rtt_calc_params: {interval: 60s}}`")
        }
        let enabled = r.object("enabled", "envoy.config.core.v3.RuntimeFeatureFlag").map(RuntimeFeatureFlag.decode)
        let status = r.object("concurrency_limit_exceeded_status", "envoy.type.v3.HttpStatus").flatMap(readStatus)
        guard let gradient, var config = decodeGradient(gradient) else { return nil }
        if let enabled {
            guard let enabled else { return nil }
            config.enabled = enabled
        }
        if let status { config.status = status }
        return .adaptiveConcurrency(config)
    }

    private static func decodeGradient(_ g: ObjectReader) -> AdaptiveConcurrencyConfig? {
        defer { g.finish() }
        let percentile = percent(g, "sample_aggregate_percentile")
        let limits = g.object("concurrency_limit_params", "\(gradientMessage).ConcurrencyLimitCalculationParams")
        let minRTT = g.object("min_rtt_calc_params", "\(gradientMessage).MinimumRTTCalculationParams")
        for (reader, key, example) in [(limits, "concurrency_limit_params", "{concurrency_update_interval: 0.1s}"),
                                       (minRTT, "min_rtt_calc_params", "{interval: 60s}")] where reader == nil && !g.has(key) {
            g.diagnostics.error(g.node.location, g.join(key), "required field is missing (as in Envoy)", fix: "add `\(key): \(example)`")
        }
        var update: Duration?, maxLimit: Int?, minLimit: Int?
        if let limits {
            defer { limits.finish() }
            update = interval(limits, "concurrency_update_interval", least: .nanoseconds(1), example: "0.1s")
            maxLimit = count(limits, "max_concurrency_limit")
            minLimit = count(limits, "min_concurrency_limit")
        }
        var rtt: Duration?, requests: Int?, jitter: Double?, minConcurrency: Int?, buffer: Double?
        if let minRTT {
            defer { minRTT.finish() }
            // `fixed_value` stays unread: finish() reports it as not supported yet.
            rtt = interval(minRTT, "interval", least: .milliseconds(1), example: "60s")
            requests = count(minRTT, "request_count")
            jitter = percent(minRTT, "jitter")
            minConcurrency = count(minRTT, "min_concurrency")
            buffer = percent(minRTT, "buffer")
        }
        guard let update, let rtt else { return nil }
        var config = AdaptiveConcurrencyConfig(concurrencyUpdateInterval: update, minRTTInterval: rtt)
        if let percentile { config.sampleAggregatePercentile = percentile }
        if let minLimit { config.minConcurrencyLimit = minLimit }
        if let requests { config.minRTTRequestCount = requests }
        if let jitter { config.jitterPercent = jitter }
        if let minConcurrency { config.minConcurrency = minConcurrency }
        if let buffer { config.bufferPercent = buffer }
        if let maxLimit {
            // Envoy clamps the limit into [floor, max]; with max below the floor that is the floor.
            let floor = config.minConcurrencyLimit ?? config.minConcurrency
            if maxLimit < floor {
                limits?.diagnostics.warning(limits!.valueLocation(of: "max_concurrency_limit"), limits!.join("max_concurrency_limit"),
                                            "max_concurrency_limit \(maxLimit) is below the floor \(floor) (min_concurrency_limit or min_concurrency); the limit stays at \(floor), as in Envoy")
            }
            config.maxConcurrencyLimit = max(maxLimit, floor)
        } else {
            config.maxConcurrencyLimit = max(config.maxConcurrencyLimit, config.minConcurrencyLimit ?? config.minConcurrency)
        }
        return config
    }

    /// A required duration field within Ferry's bounds.
    private static func interval(_ r: ObjectReader, _ key: String, least: Duration, example: String) -> Duration? {
        guard let value = r.duration(key, positive: true, fix: "use a duration such as `\(key): \(example)`") else {
            if !r.has(key) {
                r.diagnostics.error(r.node.location, r.join(key), "required field is missing (as in Envoy)",
                                    fix: "add `\(key): \(example)`" + (key == "interval" ? " (fixed_value is not supported yet)" : ""))
            }
            return nil
        }
        guard value >= least, value <= longestInterval else {
            r.diagnostics.error(r.valueLocation(of: key), r.join(key),
                                value < least ? "must be at least \(least) (as in Envoy)" : "must be at most 365 days (Ferry's bound)",
                                fix: "use a duration such as `\(key): \(example)`")
            return nil
        }
        return value
    }

    /// A `google.protobuf.UInt32Value` that must be above 0.
    private static func count(_ r: ObjectReader, _ key: String) -> Int? {
        r.uint32(key, in: 1...Int64(UInt32.max), fix: "use a whole number of at least 1").map { Int($0) }
    }

    /// An `envoy.type.v3.Percent` field: `{value: 0...100}`.
    private static func percent(_ r: ObjectReader, _ key: String) -> Double? {
        guard let p = r.object(key, "envoy.type.v3.Percent") else { return nil }
        defer { p.finish() }
        return p.double("value", in: 0...100, fix: "use a percentage between 0 and 100, e.g. `\(key): {value: 50}`")
    }

    /// `envoy.type.v3.HttpStatus`: as Envoy, a code below 400 means 503.
    private static func readStatus(_ s: ObjectReader) -> Int? {
        defer { s.finish() }
        if let text = s.raw("code")?.scalarText, let code = Int(text), (100..<400).contains(code) {
            s.diagnostics.warning(s.valueLocation(of: "code"), s.join("code"),
                                  "a concurrency_limit_exceeded_status below 400 is answered with 503, as in Envoy")
            return 503
        }
        return HttpStatusCode.read(s, "code")
    }
}
