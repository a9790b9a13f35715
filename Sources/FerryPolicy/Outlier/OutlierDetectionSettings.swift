/// Why a host was ejected: Envoy's `OutlierEjectionType`, named as its stats name them.
public enum OutlierEjectionType: String, CaseIterable, Sendable, Hashable {
    case consecutive5xx = "consecutive_5xx"
    case consecutiveGatewayFailure = "consecutive_gateway_failure"
    case consecutiveLocalOriginFailure = "consecutive_local_origin_failure"
    case successRate = "success_rate"
    case successRateLocalOrigin = "local_origin_success_rate"
    case failurePercentage = "failure_percentage"
    case failurePercentageLocalOrigin = "local_origin_failure_percentage"
}

/// The detector's settings in run-time units, with Envoy's defaults
/// (`envoy.config.cluster.v3.OutlierDetection`). Percentages are 0-100.
public struct OutlierDetectionSettings: Sendable, Equatable {
    public var consecutive5xx = 5
    public var consecutiveGatewayFailure = 5
    public var consecutiveLocalOriginFailure = 5
    public var interval: Duration = .seconds(10)
    public var baseEjectionTime: Duration = .seconds(30)
    /// Envoy: 300s, or `base_ejection_time` when that is larger.
    public var maxEjectionTime: Duration = .seconds(300)
    public var maxEjectionTimeJitter: Duration = .zero
    public var maxEjectionPercent = 10
    /// Envoy 1.40's `always_eject_one_host`: the first ejection ignores `max_ejection_percent`.
    public var alwaysEjectOneHost = false
    public var enforcingConsecutive5xx = 100
    public var enforcingConsecutiveGatewayFailure = 0
    public var enforcingConsecutiveLocalOriginFailure = 100
    public var enforcingSuccessRate = 100
    public var enforcingLocalOriginSuccessRate = 100
    public var enforcingFailurePercentage = 0
    public var enforcingFailurePercentageLocalOrigin = 0
    public var successRateMinimumHosts = 5
    public var successRateRequestVolume = 100
    /// Thousandths: 1900 is a factor of 1.9.
    public var successRateStdevFactor = 1900
    public var failurePercentageThreshold = 85
    public var failurePercentageMinimumHosts = 5
    public var failurePercentageRequestVolume = 50
    /// Connect failures and timeouts count apart from the upstream's 5xx (`consecutive_local_origin_failure`).
    public var splitExternalLocalOriginErrors = false
    /// Kept for the active health checker: a passing check returns an ejected host.
    public var successfulActiveHealthCheckUnejectHost = true

    public init() {}

    /// The `enforcing_*` percentage of a rule.
    public func enforcing(_ type: OutlierEjectionType) -> Int {
        switch type {
        case .consecutive5xx: enforcingConsecutive5xx
        case .consecutiveGatewayFailure: enforcingConsecutiveGatewayFailure
        case .consecutiveLocalOriginFailure: enforcingConsecutiveLocalOriginFailure
        case .successRate: enforcingSuccessRate
        case .successRateLocalOrigin: enforcingLocalOriginSuccessRate
        case .failurePercentage: enforcingFailurePercentage
        case .failurePercentageLocalOrigin: enforcingFailurePercentageLocalOrigin
        }
    }
}

/// Cumulative counts behind `cluster.<name>.outlier_detection.*`.
public struct OutlierStatsCounts: Sendable, Equatable {
    /// Hosts ejected now (gauge `ejections_active`).
    public var ejectionsActive = 0
    public var ejectionsEnforcedTotal = 0
    /// Ejections refused by `max_ejection_percent`.
    public var ejectionsOverflow = 0
    /// Deprecated Envoy counters, kept because Envoy still emits them.
    public var ejectionsTotal = 0
    public var ejectionsConsecutive5xx = 0
    public var ejectionsSuccessRate = 0
    public var detected: [OutlierEjectionType: Int] = [:]
    public var enforced: [OutlierEjectionType: Int] = [:]

    public init() {}
}
