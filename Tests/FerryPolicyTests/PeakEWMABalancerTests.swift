import FerryPolicy
import Testing

@Suite("PeakEWMABalancer")
struct PeakEWMABalancerTests {
    /// e⁻¹: what is left of an estimate after one time constant.
    private let inverseE = 0.367_879_441_171_442_3

    private func isClose(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

    // MARK: The estimate

    @Test("a host without samples costs the default latency (30 ms) times pending + 1")
    func defaultLatency() {
        let balancer = PeakEWMABalancer(hostCount: 2)
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(100)), 0.030))
        #expect(isClose(balancer.cost(host: 1, pending: 4, now: .zero), 0.150))
        let custom = PeakEWMABalancer(hostCount: 1, configuration: .init(defaultLatency: .milliseconds(250)))
        #expect(isClose(custom.estimate(host: 0, now: .zero), 0.250))
    }

    @Test("the first sample becomes the estimate; a higher one replaces it at once (the peak)")
    func peakReplaces() {
        var balancer = PeakEWMABalancer(hostCount: 1)
        balancer.record(host: 0, latency: .milliseconds(20), now: .seconds(1))
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(1)), 0.020))
        balancer.record(host: 0, latency: .milliseconds(400), now: .seconds(1))
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(1)), 0.400))
    }

    @Test("a lower sample is blended in with weight 1 − e^(−elapsed/10 s)")
    func lowerSampleBlends() {
        var balancer = PeakEWMABalancer(hostCount: 1)
        balancer.record(host: 0, latency: .milliseconds(100), now: .zero)
        // No time elapsed: the peak stands.
        balancer.record(host: 0, latency: .milliseconds(10), now: .zero)
        #expect(isClose(balancer.estimate(host: 0, now: .zero), 0.100))
        // One time constant later: 100 ms × e⁻¹ + 10 ms × (1 − e⁻¹) ≈ 43.1 ms.
        balancer.record(host: 0, latency: .milliseconds(10), now: .seconds(10))
        let expected = 0.100 * inverseE + 0.010 * (1 - inverseE)
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(10)), expected))
    }

    @Test("between samples the estimate decays by e^(−elapsed/decayTime)")
    func decaysBetweenSamples() {
        var balancer = PeakEWMABalancer(hostCount: 1)
        balancer.record(host: 0, latency: .milliseconds(500), now: .seconds(5))
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(15)), 0.5 * inverseE))
        #expect(balancer.estimate(host: 0, now: .seconds(65)) < 0.5 * 0.0025)
        // A shorter time constant decays faster.
        var fast = PeakEWMABalancer(hostCount: 1, configuration: .init(decayTime: .seconds(1)))
        fast.record(host: 0, latency: .milliseconds(500), now: .zero)
        #expect(isClose(fast.estimate(host: 0, now: .seconds(1)), 0.5 * inverseE))
    }

    @Test("a clock reading older than the last sample counts as no time elapsed")
    func timeNeverRunsBackwards() {
        var balancer = PeakEWMABalancer(hostCount: 1)
        balancer.record(host: 0, latency: .milliseconds(80), now: .seconds(10))
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(9)), 0.080))
        balancer.record(host: 0, latency: .milliseconds(20), now: .seconds(9))
        #expect(isClose(balancer.estimate(host: 0, now: .seconds(10)), 0.080))
    }

    @Test("cost is the estimate times pending + 1")
    func costScalesWithPending() {
        var balancer = PeakEWMABalancer(hostCount: 1)
        balancer.record(host: 0, latency: .milliseconds(40), now: .zero)
        #expect(isClose(balancer.cost(host: 0, pending: 0, now: .zero), 0.040))
        #expect(isClose(balancer.cost(host: 0, pending: 9, now: .zero), 0.400))
    }

    // MARK: Picking

    @Test("of two hosts, the cheaper is always picked: the two draws are different hosts")
    func twoHostsAlwaysCheaper() {
        var balancer = PeakEWMABalancer(hostCount: 2)
        balancer.record(host: 0, latency: .milliseconds(90), now: .zero)
        balancer.record(host: 1, latency: .milliseconds(10), now: .zero)
        var random = FastRandom(seed: 4)
        #expect((0..<1000).allSatisfy { _ in balancer.pick(using: &random, now: .zero) { _ in 0 } == 1 })
    }

    @Test("a slow host is never picked while its cost is the highest, and pending requests change that")
    func slowHostAvoided() {
        var balancer = PeakEWMABalancer(hostCount: 4)
        for host in 0..<4 { balancer.record(host: host, latency: .milliseconds(host == 0 ? 200 : 10), now: .zero) }
        var random = FastRandom(seed: 11)
        let idle = PickCounts(hosts: 4, draws: 10_000) { balancer.pick(using: &random, now: .zero) { _ in 0 } }
        #expect(idle.counts[0] == 0, "\(idle.counts)")
        // With 30 requests in flight on each fast host (10 ms × 31 = 310 ms > 200 ms), host 0 wins whenever drawn:
        // it is one of the two draws in half of the picks.
        let busy = PickCounts(hosts: 4, draws: 10_000) {
            balancer.pick(using: &random, now: .zero) { $0 == 0 ? 0 : 30 }
        }
        #expect(abs(busy.shares[0] - 0.5) < 0.025, "\(busy.shares)")
    }

    @Test("equal costs: picks are uniform (a tie keeps the first draw)")
    func uniformOnTies() {
        let balancer = PeakEWMABalancer(hostCount: 5)
        var random = FastRandom(seed: 21)
        let counts = PickCounts(hosts: 5, draws: 50_000) { balancer.pick(using: &random, now: .seconds(3)) { _ in 2 } }
        // 4 degrees of freedom: a uniform picker exceeds 18.47 with probability 0.001.
        #expect(counts.chiSquare(expectedWeights: [1, 1, 1, 1, 1]) < 18.47, "\(counts.counts)")
    }

    @Test("a host that was slow is tried again once its estimate decays, and recovers its share")
    func recoversAfterDecay() {
        // Four hosts, one pick every 100 ms, each pick answered at once with its host's latency. Host 0
        // answers in 500 ms for the first 10 s, then in 10 ms like the others.
        var balancer = PeakEWMABalancer(hostCount: 4)
        var random = FastRandom(seed: 3)
        var slowPhase = PickCounts(hosts: 4)
        var recovered = PickCounts(hosts: 4)
        for tick in 0..<1_800 {
            let now = Duration.milliseconds(100 * tick)
            guard let host = balancer.pick(using: &random, now: now, pending: { _ in 0 }) else { continue }
            let slow = host == 0 && tick < 100
            balancer.record(host: host, latency: .milliseconds(slow ? 500 : 10), now: now)
            if tick < 100 { slowPhase.record(host) } else if tick >= 1_200 { recovered.record(host) }
        }
        // While slow, host 0 gets the few picks its decayed estimate wins; after its estimate has decayed
        // and new samples are fast (from 120 s on), it is back near a quarter.
        #expect(slowPhase.shares[0] < 0.05, "slow phase \(slowPhase.counts)")
        #expect(recovered.shares[0] > 0.2, "recovered \(recovered.counts)")
    }

    @Test("no hosts picks nothing; one host is always picked")
    func emptyAndSingle() {
        var random = FastRandom(seed: 1)
        #expect(PeakEWMABalancer(hostCount: 0).pick(using: &random, now: .zero) { _ in 0 } == nil)
        var single = PeakEWMABalancer(hostCount: 1)
        single.record(host: 0, latency: .seconds(3), now: .zero)
        #expect(single.pick(using: &random, now: .zero) { _ in 100 } == 0)
        #expect(single.hostCount == 1)
    }
}
