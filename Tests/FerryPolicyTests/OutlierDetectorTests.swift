import FerryPolicy
import Testing

/// A detector over `hosts` hosts with a manual clock (`now`) and a seeded random source.
struct OutlierBench {
    var detector: OutlierDetector
    var now: Duration = .seconds(1000)
    var random = FastRandom(seed: 7)

    init(hosts: Int, _ configure: (inout OutlierDetectionSettings) -> Void = { _ in }) {
        var settings = OutlierDetectionSettings()
        configure(&settings)
        detector = OutlierDetector(configuration: settings)
        detector.setHosts(Array(0..<hosts))
    }

    @discardableResult
    mutating func record(_ result: OutlierDetector.Result, host: Int, times: Int = 1) -> [OutlierDetector.Action] {
        var actions: [OutlierDetector.Action] = []
        for _ in 0..<times {
            if let a = detector.record(result, host: host, now: now, random: &random) { actions.append(a) }
        }
        return actions
    }

    mutating func advance(_ by: Duration) -> [OutlierDetector.Action] {
        now += by
        return detector.tick(now: now, random: &random)
    }
}

@Suite("OutlierDetector: consecutive errors")
struct OutlierConsecutiveTests {
    @Test("five 5xx in a row eject the host; a success in between starts the count again")
    func consecutive5xx() {
        var bench = OutlierBench(hosts: 10)
        #expect(bench.record(.status(500), host: 3, times: 4).isEmpty)
        bench.record(.status(200), host: 3)
        #expect(bench.record(.status(500), host: 3, times: 4).isEmpty)
        #expect(bench.record(.status(500), host: 3) == [.eject(host: 3, reason: .consecutive5xx)])
        #expect(bench.detector.isEjected(3))
        let s = bench.detector.stats
        #expect(s.ejectionsActive == 1 && s.ejectionsEnforcedTotal == 1 && s.ejectionsTotal == 1)
        #expect(s.detected[.consecutive5xx] == 1 && s.enforced[.consecutive5xx] == 1 && s.ejectionsConsecutive5xx == 1)
    }

    @Test("gateway failures are detected by default but enforced only with enforcing_consecutive_gateway_failure")
    func gatewayFailureEnforcement() {
        var shadow = OutlierBench(hosts: 10) { $0.consecutive5xx = 100 }
        #expect(shadow.record(.status(503), host: 0, times: 5).isEmpty)
        #expect(shadow.detector.stats.detected[.consecutiveGatewayFailure] == 1)
        #expect(shadow.detector.stats.enforced[.consecutiveGatewayFailure] == nil)
        #expect(!shadow.detector.isEjected(0))

        var enforced = OutlierBench(hosts: 10) { $0.consecutive5xx = 100; $0.enforcingConsecutiveGatewayFailure = 100 }
        enforced.record(.status(502), host: 1, times: 4)
        enforced.record(.status(500), host: 1)  // a 500 breaks the gateway-failure run
        #expect(enforced.record(.status(504), host: 1, times: 4).isEmpty)
        #expect(enforced.record(.status(503), host: 1) == [.eject(host: 1, reason: .consecutiveGatewayFailure)])
        #expect(enforced.detector.stats.ejectionsTotal == 0)  // the deprecated total counts 5xx and success rate only
    }

    @Test("unsplit, a connect failure counts as 503 and a timeout as its status (504)")
    func localOriginUnsplit() {
        var bench = OutlierBench(hosts: 10) { $0.enforcingConsecutiveGatewayFailure = 100 }
        bench.record(.connectFailed, host: 2, times: 3)
        bench.record(.connectSuccess, host: 2)  // ignored without the split
        #expect(bench.record(.timeout(status: 504), host: 2, times: 2) == [.eject(host: 2, reason: .consecutiveGatewayFailure)])
        // The 5xx rule fired on the same response, but the host was already out: not even detected.
        #expect(bench.detector.stats.detected[.consecutive5xx] == nil)
    }

    @Test("split, local-origin failures have their own count that a connect success resets")
    func localOriginSplit() {
        var bench = OutlierBench(hosts: 10) { $0.splitExternalLocalOriginErrors = true }
        bench.record(.connectFailed, host: 4, times: 4)
        bench.record(.connectSuccess, host: 4)
        #expect(bench.record(.connectFailed, host: 4, times: 4).isEmpty)
        #expect(bench.record(.timeout(status: 504), host: 4) == [.eject(host: 4, reason: .consecutiveLocalOriginFailure)])
        #expect(bench.detector.stats.detected[.consecutive5xx] == nil)
        #expect(bench.detector.stats.enforced[.consecutiveLocalOriginFailure] == 1)
    }

    @Test("an ejected host's errors are ignored, and enforcing 0 only detects")
    func ejectedIgnoresAndShadowMode() {
        var bench = OutlierBench(hosts: 10)
        bench.record(.status(500), host: 0, times: 5)
        #expect(bench.record(.status(500), host: 0, times: 10).isEmpty)
        #expect(bench.detector.stats.detected[.consecutive5xx] == 1)

        var shadow = OutlierBench(hosts: 10) { $0.enforcingConsecutive5xx = 0 }
        #expect(shadow.record(.status(500), host: 0, times: 10).isEmpty)
        #expect(shadow.detector.stats.detected[.consecutive5xx] == 2 && shadow.detector.stats.ejectionsTotal == 2)
        #expect(shadow.detector.stats.ejectionsActive == 0)
    }
}

@Suite("OutlierDetector: ejection time")
struct OutlierEjectionTimeTests {
    private static func eject(_ bench: inout OutlierBench, host: Int = 0) {
        #expect(bench.record(.status(500), host: host, times: 5) == [.eject(host: host, reason: .consecutive5xx)])
    }

    @Test("a host returns at the first tick after base_ejection_time, with its counters reset")
    func returnsAfterBaseTime() {
        var bench = OutlierBench(hosts: 10)
        Self.eject(&bench)
        #expect(bench.advance(.seconds(10)).isEmpty)
        #expect(bench.advance(.seconds(10)).isEmpty)
        #expect(bench.advance(.seconds(10)) == [.uneject(host: 0)])
        #expect(!bench.detector.isEjected(0) && bench.detector.stats.ejectionsActive == 0)
        bench.record(.status(500), host: 0, times: 4)
        #expect(!bench.detector.isEjected(0))
    }

    @Test("each ejection lasts base × times ejected, up to max_ejection_time")
    func multiplierAndCap() {
        var bench = OutlierBench(hosts: 10) { $0.interval = .seconds(1); $0.baseEjectionTime = .seconds(10); $0.maxEjectionTime = .seconds(25) }
        var lengths: [Int] = []
        for _ in 0..<4 {
            Self.eject(&bench)
            var ticks = 0
            while bench.detector.isEjected(0), ticks < 100 {
                _ = bench.advance(.seconds(1))
                ticks += 1
            }
            lengths.append(ticks)
        }
        #expect(lengths == [10, 20, 25, 25])
    }

    @Test("the multiplier decays by one per interval the host stays in service")
    func multiplierDecays() {
        var bench = OutlierBench(hosts: 10) { $0.interval = .seconds(1); $0.baseEjectionTime = .seconds(10) }
        Self.eject(&bench)
        for _ in 0..<10 { _ = bench.advance(.seconds(1)) }
        Self.eject(&bench)  // backoff 2: 20s
        for _ in 0..<20 { _ = bench.advance(.seconds(1)) }
        #expect(!bench.detector.isEjected(0))
        // Two healthy intervals bring the backoff from 2 to 0; the next ejection is base × 1 again.
        for _ in 0..<3 { _ = bench.advance(.seconds(1)) }
        Self.eject(&bench)
        var ticks = 0
        while bench.detector.isEjected(0), ticks < 100 {
            _ = bench.advance(.seconds(1))
            ticks += 1
        }
        #expect(ticks == 10)
    }

    @Test("max_ejection_time_jitter adds at most the jitter")
    func jitter() {
        var bench = OutlierBench(hosts: 10) { $0.interval = .milliseconds(100); $0.baseEjectionTime = .seconds(1); $0.maxEjectionTimeJitter = .seconds(1) }
        Self.eject(&bench)
        var ticks = 0
        while bench.detector.isEjected(0), ticks < 100 {
            _ = bench.advance(.milliseconds(100))
            ticks += 1
        }
        #expect((10...20).contains(ticks))
    }
}

@Suite("OutlierDetector: max_ejection_percent")
struct OutlierCapTests {
    @Test("an ejection that would pass max_ejection_percent overflows instead")
    func cap() {
        var bench = OutlierBench(hosts: 4) { $0.maxEjectionPercent = 50 }
        for host in 0..<3 { bench.record(.status(500), host: host, times: 5) }
        #expect(bench.detector.isEjected(0) && bench.detector.isEjected(1) && !bench.detector.isEjected(2))
        #expect(bench.detector.stats.ejectionsOverflow == 1 && bench.detector.stats.ejectionsActive == 2)
        #expect(bench.detector.stats.detected[.consecutive5xx] == 3)
    }

    @Test("with the default 10%, a small cluster ejects nothing unless always_eject_one_host (Envoy 1.40)")
    func smallClusterDefault() {
        var bench = OutlierBench(hosts: 3)
        #expect(bench.record(.status(500), host: 0, times: 5).isEmpty)
        #expect(bench.detector.stats.ejectionsOverflow == 1)
        var one = OutlierBench(hosts: 3) { $0.alwaysEjectOneHost = true }
        #expect(one.record(.status(500), host: 0, times: 5).count == 1)
        #expect(one.record(.status(500), host: 1, times: 5).isEmpty)
        #expect(one.detector.stats.ejectionsOverflow == 1)
    }

    @Test("removing an ejected host releases its place in the cap")
    func removal() {
        var bench = OutlierBench(hosts: 10)
        bench.record(.status(500), host: 9, times: 5)
        bench.detector.setHosts(Array(0..<9))
        #expect(bench.detector.stats.ejectionsActive == 0)
    }
}

@Suite("OutlierDetector: success rate and failure percentage")
struct OutlierStatisticalTests {
    /// One interval in which host i answers `successes[i]` of `volume` requests well.
    private static func interval(_ bench: inout OutlierBench, volume: Int, successes: [Int], local: Bool = false) -> [OutlierDetector.Action] {
        for (host, ok) in successes.enumerated() {
            if local {
                bench.record(.connectSuccess, host: host, times: ok)
                bench.record(.connectFailed, host: host, times: volume - ok)
            } else {
                bench.detector.addSuccesses(ok, host: host)
                // Failures interleaved with successes stay below the consecutive thresholds.
                bench.record(.status(500), host: host, times: volume - ok)
            }
        }
        return bench.advance(.seconds(10))
    }

    @Test("a host below mean − 1.9 × stdev is ejected (Envoy's example: 50 among four 100s)")
    func successRate() {
        #expect(OutlierDetector.successRateThreshold([50, 100, 100, 100, 100], stdevFactor: 1.9).mean == 90)
        var bench = OutlierBench(hosts: 5) { $0.consecutive5xx = 1000; $0.maxEjectionPercent = 20 }
        let actions = Self.interval(&bench, volume: 100, successes: [50, 100, 100, 100, 100])
        #expect(actions == [.eject(host: 0, reason: .successRate)])
        #expect(bench.detector.stats.ejectionsSuccessRate == 1 && bench.detector.stats.ejectionsTotal == 1)
        #expect(bench.detector.successRate(1) == 100)
    }

    @Test("success rate needs success_rate_request_volume per host and success_rate_minimum_hosts hosts")
    func successRateMinimums() {
        var lowVolume = OutlierBench(hosts: 5) { $0.consecutive5xx = 1000; $0.maxEjectionPercent = 20 }
        #expect(Self.interval(&lowVolume, volume: 99, successes: [10, 99, 99, 99, 99]).isEmpty)
        #expect(lowVolume.detector.successRate(0) == 10.0 * 100 / 99)  // above failure_percentage_request_volume: shown
        var fewHosts = OutlierBench(hosts: 4) { $0.consecutive5xx = 1000; $0.maxEjectionPercent = 50 }
        #expect(Self.interval(&fewHosts, volume: 100, successes: [10, 100, 100, 100]).isEmpty)
    }

    @Test("failure percentage at or above the threshold ejects only when enforced (default 0)")
    func failurePercentage() {
        var shadow = OutlierBench(hosts: 5) { $0.consecutive5xx = 1000; $0.enforcingSuccessRate = 0; $0.maxEjectionPercent = 20 }
        #expect(Self.interval(&shadow, volume: 50, successes: [7, 50, 50, 50, 50]).isEmpty)
        #expect(shadow.detector.stats.detected[.failurePercentage] == 1)
        var enforced = OutlierBench(hosts: 5) {
            $0.consecutive5xx = 1000; $0.enforcingFailurePercentage = 100; $0.maxEjectionPercent = 20
            $0.successRateRequestVolume = 1000
        }
        #expect(Self.interval(&enforced, volume: 50, successes: [8, 50, 50, 50, 50]).isEmpty)  // 84% failed
        #expect(Self.interval(&enforced, volume: 50, successes: [7, 50, 50, 50, 50]) == [.eject(host: 0, reason: .failurePercentage)])
    }

    @Test("split, local-origin results feed the local-origin success rate and failure percentage")
    func localOrigin() {
        var bench = OutlierBench(hosts: 5) {
            $0.splitExternalLocalOriginErrors = true; $0.consecutiveLocalOriginFailure = 1000; $0.maxEjectionPercent = 20
            $0.successRateRequestVolume = 1000; $0.enforcingFailurePercentageLocalOrigin = 100
        }
        let actions = Self.interval(&bench, volume: 60, successes: [5, 60, 60, 60, 60], local: true)
        #expect(actions == [.eject(host: 0, reason: .failurePercentageLocalOrigin)])
        #expect(bench.detector.localOriginSuccessRate(1) == 100 && bench.detector.successRate(1) == nil)
    }

    @Test("results from the interval before the last no longer count")
    func bucketsRoll() {
        var bench = OutlierBench(hosts: 5) { $0.consecutive5xx = 1000; $0.maxEjectionPercent = 20 }
        for host in 0..<5 { bench.detector.addSuccesses(100, host: host) }
        _ = bench.advance(.seconds(10))
        #expect(bench.detector.successRate(0) == 100)
        _ = bench.advance(.seconds(10))
        #expect(bench.detector.successRate(0) == nil)
    }
}

@Suite("OutlierDetector: active health checks")
struct OutlierActiveHealthCheckTests {
    @Test("a passing active health check returns an ejected host at once (successful_active_health_check_uneject_host)")
    func unejectOnPassingCheck() {
        var bench = OutlierBench(hosts: 10)
        #expect(bench.record(.status(500), host: 2, times: 5) == [.eject(host: 2, reason: .consecutive5xx)])
        #expect(bench.detector.activeHealthCheckPassed(host: 2, now: bench.now) == .uneject(host: 2))
        #expect(!bench.detector.isEjected(2))
        #expect(bench.detector.stats.ejectionsActive == 0)
        // The streak starts over: four more 500s do not eject again.
        #expect(bench.record(.status(500), host: 2, times: 4).isEmpty)
        // A host that is not ejected is left alone.
        #expect(bench.detector.activeHealthCheckPassed(host: 3, now: bench.now) == nil)
    }

    @Test("with successful_active_health_check_uneject_host false, the host waits out its ejection time")
    func keepsEjection() {
        var bench = OutlierBench(hosts: 10) { $0.successfulActiveHealthCheckUnejectHost = false }
        bench.record(.status(500), host: 2, times: 5)
        #expect(bench.detector.activeHealthCheckPassed(host: 2, now: bench.now) == nil)
        #expect(bench.detector.isEjected(2))
    }
}
