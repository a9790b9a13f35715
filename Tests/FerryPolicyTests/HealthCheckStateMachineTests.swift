import FerryPolicy
import Testing

/// Envoy's health check decisions: thresholds, the first check, immediate failures, and the
/// interval chosen after each result. No clock is needed: the machine is told each result.
@Suite("Health check state machine")
struct HealthCheckStateMachineTests {
    static let config = HealthCheckStateMachine.Configuration(
        unhealthyThreshold: 3, healthyThreshold: 2, interval: .seconds(5), unhealthyInterval: .seconds(10),
        unhealthyEdgeInterval: .seconds(2), healthyEdgeInterval: .seconds(1), noTrafficInterval: .seconds(60),
        noTrafficHealthyInterval: .seconds(30))

    static func zero() -> UInt64 { 0 }

    static func healthy() -> HealthCheckStateMachine {
        var m = HealthCheckStateMachine(configuration: config)
        m.record(.success)
        return m
    }

    @Test("a host starts unhealthy and its first success makes it healthy at once")
    func firstSuccess() {
        var m = HealthCheckStateMachine(configuration: Self.config)
        #expect(!m.isHealthy)
        #expect(m.record(.success) == .changed)
        #expect(m.isHealthy)
    }

    @Test("unhealthy after unhealthy_threshold consecutive network failures; a success resets the count")
    func unhealthyThreshold() {
        var m = Self.healthy()
        #expect(m.record(.timeout) == .changePending)
        #expect(m.record(.networkFailure) == .changePending)
        #expect(m.record(.success) == .unchanged)
        #expect(m.record(.networkFailure) == .changePending)
        #expect(m.record(.retriableFailure) == .changePending)
        #expect(m.isHealthy)
        #expect(m.record(.networkFailure) == .changed)
        #expect(!m.isHealthy)
        #expect(m.record(.networkFailure) == .unchanged)
    }

    @Test("a failing answer (wrong status) is unhealthy at once, whatever the threshold")
    func activeFailureImmediate() {
        var m = Self.healthy()
        #expect(m.record(.activeFailure) == .changed)
        #expect(!m.isHealthy)
    }

    @Test("healthy again only after healthy_threshold consecutive successes")
    func healthyThreshold() {
        var m = Self.healthy()
        m.record(.activeFailure)
        #expect(m.record(.success) == .changePending)
        #expect(m.record(.networkFailure) == .unchanged)
        #expect(m.record(.success) == .changePending)
        #expect(!m.isHealthy)
        #expect(m.record(.success) == .changed)
        #expect(m.isHealthy)
    }

    @Test("intervals follow Envoy: interval, unhealthy_interval, the edge intervals while a change is pending")
    func intervalsWithTraffic() {
        var m = Self.healthy()
        #expect(m.nextInterval(hadTraffic: true, random: Self.zero) == .seconds(5))
        m.record(.networkFailure)
        #expect(m.nextInterval(hadTraffic: true, random: Self.zero) == .seconds(1))  // healthy, change pending
        m.record(.activeFailure)
        #expect(m.nextInterval(hadTraffic: true, random: Self.zero) == .seconds(10))  // unhealthy
        m.record(.success)
        #expect(m.nextInterval(hadTraffic: true, random: Self.zero) == .seconds(2))  // unhealthy, change pending
    }

    @Test("without traffic: no_traffic_healthy_interval for a settled healthy host, no_traffic_interval otherwise")
    func intervalsWithoutTraffic() {
        var m = Self.healthy()
        m.record(.success)
        #expect(m.nextInterval(hadTraffic: false, random: Self.zero) == .seconds(30))
        m.record(.networkFailure)
        #expect(m.nextInterval(hadTraffic: false, random: Self.zero) == .seconds(60))
        m.record(.activeFailure)
        #expect(m.nextInterval(hadTraffic: false, random: Self.zero) == .seconds(60))
    }

    @Test("jitter adds random % jitter_ms and random % (percent of base); never below 1 ms")
    func jitter() {
        let d = HealthCheckStateMachine.withJitter(.seconds(1), jitter: .milliseconds(100), percent: 10) { 1_234 }
        #expect(d == .milliseconds(1000 + 1_234 % 100 + 1_234 % 100))
        #expect(HealthCheckStateMachine.withJitter(.zero, jitter: .zero) { 7 } == .milliseconds(1))
    }

    @Test("first checks spread evenly over the window, plus initial jitter")
    func initialSpread() {
        let delays = (0..<4).map {
            HealthCheckStateMachine.initialDelay(index: $0, count: 4, window: .seconds(1), initialJitter: .zero, random: Self.zero)
        }
        #expect(delays == [.zero, .milliseconds(250), .milliseconds(500), .milliseconds(750)])
        #expect(HealthCheckStateMachine.initialDelay(index: 0, count: 1, window: .seconds(1), initialJitter: .milliseconds(50)) { 70 }
            == .milliseconds(20))
    }

    @Test("a pending host (ignore_new_hosts_until_first_hc) leaves pending with its first result, pass or fail")
    func pendingCleared() {
        var m = HealthCheckStateMachine(configuration: Self.config, pending: true)
        #expect(m.isPending)
        #expect(m.record(.networkFailure) == .changed)
        #expect(!m.isPending && !m.isHealthy)
    }
}
