/// `envoy.config.cluster.v3.OutlierDetection` (`clusters[].outlier_detection`): passive health
/// checking from the results of real requests. Every field has Envoy's default; a cluster
/// without the block has no detector at all (as in Envoy).
public struct OutlierDetection: Sendable, Equatable, CustomStringConvertible {
    public var consecutive5xx: UInt32 = 5
    public var consecutiveGatewayFailure: UInt32 = 5
    public var consecutiveLocalOriginFailure: UInt32 = 5
    /// Time between ejection sweeps (10s).
    public var interval: Duration = .seconds(10)
    /// Ejection time per time ejected (30s).
    public var baseEjectionTime: Duration = .seconds(30)
    /// nil: 300s, or `base_ejection_time` when that is larger.
    public var maxEjectionTime: Duration?
    public var maxEjectionTimeJitter: Duration = .zero
    /// Percent of the cluster's hosts that may be ejected at once (10).
    public var maxEjectionPercent: UInt32 = 10
    public var alwaysEjectOneHost = false
    public var enforcingConsecutive5xx: UInt32 = 100
    /// 0: gateway failures are detected and counted, not acted on (Envoy's default).
    public var enforcingConsecutiveGatewayFailure: UInt32 = 0
    public var enforcingConsecutiveLocalOriginFailure: UInt32 = 100
    public var enforcingSuccessRate: UInt32 = 100
    public var enforcingLocalOriginSuccessRate: UInt32 = 100
    public var enforcingFailurePercentage: UInt32 = 0
    public var enforcingFailurePercentageLocalOrigin: UInt32 = 0
    public var successRateMinimumHosts: UInt32 = 5
    public var successRateRequestVolume: UInt32 = 100
    /// Thousandths (1900 = 1.9).
    public var successRateStdevFactor: UInt32 = 1900
    public var failurePercentageThreshold: UInt32 = 85
    public var failurePercentageMinimumHosts: UInt32 = 5
    public var failurePercentageRequestVolume: UInt32 = 50
    public var splitExternalLocalOriginErrors = false
    public var successfulActiveHealthCheckUnejectHost = true

    public init() {}

    /// The effective `max_ejection_time`.
    public var resolvedMaxEjectionTime: Duration { maxEjectionTime ?? max(.seconds(300), baseEjectionTime) }

    /// Every field, so that a reload sees any change (cluster fingerprints use it).
    public var description: String {
        let mirror = Mirror(reflecting: self)
        return mirror.children.map { "\($0.label ?? "")=\($0.value)" }.joined(separator: ",")
    }

    /// Fields of the message Ferry does not read: `monitors` (not implemented by Envoy either).
    static let unsupported: Set<String> = ["monitors", "detector"]

    static func decode(_ r: ObjectReader) -> OutlierDetection {
        var o = OutlierDetection()
        defer { r.finish(known: unsupported) }
        func count(_ key: String, _ field: WritableKeyPath<OutlierDetection, UInt32>) {
            if let v = r.uint32(key) { o[keyPath: field] = v }
        }
        func percent(_ key: String, _ field: WritableKeyPath<OutlierDetection, UInt32>) {
            if let v = r.uint32(key, in: 0...100, fix: "use a percentage between 0 and 100") { o[keyPath: field] = v }
        }
        count("consecutive_5xx", \.consecutive5xx)
        count("consecutive_gateway_failure", \.consecutiveGatewayFailure)
        count("consecutive_local_origin_failure", \.consecutiveLocalOriginFailure)
        count("success_rate_minimum_hosts", \.successRateMinimumHosts)
        count("success_rate_request_volume", \.successRateRequestVolume)
        count("success_rate_stdev_factor", \.successRateStdevFactor)
        count("failure_percentage_minimum_hosts", \.failurePercentageMinimumHosts)
        count("failure_percentage_request_volume", \.failurePercentageRequestVolume)
        percent("max_ejection_percent", \.maxEjectionPercent)
        percent("enforcing_consecutive_5xx", \.enforcingConsecutive5xx)
        percent("enforcing_consecutive_gateway_failure", \.enforcingConsecutiveGatewayFailure)
        percent("enforcing_consecutive_local_origin_failure", \.enforcingConsecutiveLocalOriginFailure)
        percent("enforcing_success_rate", \.enforcingSuccessRate)
        percent("enforcing_local_origin_success_rate", \.enforcingLocalOriginSuccessRate)
        percent("enforcing_failure_percentage", \.enforcingFailurePercentage)
        percent("enforcing_failure_percentage_local_origin", \.enforcingFailurePercentageLocalOrigin)
        percent("failure_percentage_threshold", \.failurePercentageThreshold)
        if let v = r.duration("interval", positive: true) { o.interval = v }
        if let v = r.duration("base_ejection_time", positive: true) { o.baseEjectionTime = v }
        o.maxEjectionTime = r.duration("max_ejection_time", positive: true)
        if let v = r.duration("max_ejection_time_jitter") { o.maxEjectionTimeJitter = v }
        if let v = r.bool("split_external_local_origin_errors") { o.splitExternalLocalOriginErrors = v }
        if let v = r.bool("always_eject_one_host") { o.alwaysEjectOneHost = v }
        if let v = r.bool("successful_active_health_check_uneject_host") { o.successfulActiveHealthCheckUnejectHost = v }
        if let maxTime = o.maxEjectionTime, maxTime < o.baseEjectionTime {
            r.diagnostics.error(r.valueLocation(of: "max_ejection_time"), r.join("max_ejection_time"),
                                "max_ejection_time cannot be smaller than base_ejection_time",
                                fix: "raise max_ejection_time to at least base_ejection_time, or leave it out")
        }
        return o
    }
}
