@testable import FerryConfig
import Testing

/// `clusters[].outlier_detection`: Envoy's defaults, its bounds, and the fields Ferry lacks.
@Suite("Outlier detection settings")
struct OutlierDetectionConfigTests {
    static func yaml(_ fields: String) -> String {
        Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  outlier_detection: " + fields)
    }

    static func cluster(_ fields: String) -> Cluster? { Fixture.load(yaml(fields))?.clusters.first }

    @Test("no block, no detector; an empty block has Envoy's defaults")
    func defaults() throws {
        #expect(Fixture.load(Fixture.bootstrap(clusters: Fixture.backendCluster))?.clusters.first?.outlierDetection == nil)
        let o = try #require(Self.cluster("{}")?.outlierDetection)
        #expect(o == OutlierDetection())
        #expect(o.consecutive5xx == 5 && o.consecutiveGatewayFailure == 5 && o.interval == .seconds(10))
        #expect(o.baseEjectionTime == .seconds(30) && o.resolvedMaxEjectionTime == .seconds(300) && o.maxEjectionPercent == 10)
        #expect(o.enforcingConsecutive5xx == 100 && o.enforcingConsecutiveGatewayFailure == 0 && o.enforcingFailurePercentage == 0)
        #expect(o.successRateStdevFactor == 1900 && o.successfulActiveHealthCheckUnejectHost)
    }

    @Test("every supported field is read; max_ejection_time defaults to base_ejection_time when that is larger")
    func fieldsRead() throws {
        let o = try #require(Self.cluster("""
            {consecutive_5xx: 3, interval: 0.5s, base_ejection_time: 400s, max_ejection_percent: 50,
                enforcing_consecutive_gateway_failure: 100, split_external_local_origin_errors: true,
                consecutive_local_origin_failure: 2, max_ejection_time_jitter: 1s, failure_percentage_threshold: 90,
                successful_active_health_check_uneject_host: false, always_eject_one_host: true}
            """)?.outlierDetection)
        #expect(o.consecutive5xx == 3 && o.interval == .milliseconds(500) && o.maxEjectionPercent == 50)
        #expect(o.resolvedMaxEjectionTime == .seconds(400) && o.maxEjectionTimeJitter == .seconds(1))
        #expect(o.splitExternalLocalOriginErrors && o.consecutiveLocalOriginFailure == 2 && o.alwaysEjectOneHost)
        #expect(o.failurePercentageThreshold == 90 && !o.successfulActiveHealthCheckUnejectHost)
    }

    @Test("a percentage above 100 is refused with its path")
    func percentBound() {
        Fixture.expectOneError(Self.yaml("{max_ejection_percent: 101}"), at: "101",
                               path: "static_resources.clusters[0].outlier_detection.max_ejection_percent",
                               message: "101 is out of range 0...100")
    }

    @Test("max_ejection_time below base_ejection_time is refused, as Envoy refuses it")
    func maxBelowBase() {
        Fixture.expectOneError(Self.yaml("{base_ejection_time: 60s, max_ejection_time: 10s}"), at: "10s",
                               path: "static_resources.clusters[0].outlier_detection.max_ejection_time",
                               message: "max_ejection_time cannot be smaller than base_ejection_time")
    }

    @Test("an interval of 0s is refused")
    func zeroInterval() {
        Fixture.expectOneError(Self.yaml("{interval: 0s}"), at: "0s",
                               path: "static_resources.clusters[0].outlier_detection.interval", message: "must be greater than 0s")
    }

    @Test("monitors is a known field that is not supported yet; a typo gets a suggestion")
    func unsupportedAndTypo() {
        Fixture.expectOneError(Self.yaml("{monitors: {}}"), at: "monitors",
                               path: "static_resources.clusters[0].outlier_detection.monitors",
                               message: "OutlierDetection.monitors is not supported yet by Ferry")
        Fixture.expectOneError(Self.yaml("{consecutive_5xxx: 3}"), at: "consecutive_5xxx",
                               path: "static_resources.clusters[0].outlier_detection.consecutive_5xxx",
                               message: "unknown field \"consecutive_5xxx\" in OutlierDetection (did you mean \"consecutive_5xx\"?)")
    }
}
