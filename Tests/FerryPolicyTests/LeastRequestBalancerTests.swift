import FerryPolicy
import Testing

@Suite("LeastRequestBalancer")
struct LeastRequestBalancerTests {
    private func balancer(
        _ weights: [UInt32],
        choiceCount: Int = 2,
        bias: Double = 1.0,
        seed: UInt64 = 1
    ) -> LeastRequestBalancer {
        var random = FastRandom(seed: seed)
        let configuration = LeastRequestBalancer.Configuration(choiceCount: choiceCount, activeRequestBias: bias)
        return LeastRequestBalancer(weights: weights, configuration: configuration, random: &random)
    }

    /// Picks `draws` times with fixed active request counts.
    private func tally(
        _ balancer: LeastRequestBalancer,
        active: [Int],
        draws: Int,
        seed: UInt64 = 42
    ) -> PickCounts {
        var balancer = balancer
        var random = FastRandom(seed: seed)
        return PickCounts(hosts: active.count, draws: draws) {
            balancer.pick(using: &random) { active[$0] }
        }
    }

    /// Five binomial standard deviations of a share `p` over `n` draws.
    private func fiveSigma(_ p: Double, _ n: Int) -> Double {
        5 * (p * (1 - p) / Double(n)).squareRoot()
    }

    // MARK: Equal weights: N random choices

    @Test("equal weights and equal active counts: 40 000 picks pass a chi-square uniformity test")
    func uniformWhenIdle() {
        let counts = tally(balancer([1, 1, 1, 1]), active: [3, 3, 3, 3], draws: 40_000)
        // 3 degrees of freedom: a uniform picker exceeds 16.27 with probability 0.001. A tie keeps the
        // first draw, which is itself uniform.
        let chiSquare = counts.chiSquare(expectedWeights: [1, 1, 1, 1])
        #expect(chiSquare < 16.27, "counts \(counts.counts), chi-square \(chiSquare)")
    }

    @Test("two choices: the host with rank r of n gets ((n−r)² − (n−r−1)²)/n² of the picks")
    func powerOfTwoShares() {
        // Active counts 3, 2, 1, 0: the idlest host wins whenever it is drawn at least once (7/16), the
        // busiest only when both draws land on it (1/16).
        let draws = 40_000
        let counts = tally(balancer([1, 1, 1, 1]), active: [3, 2, 1, 0], draws: draws)
        let expected = [1.0, 3, 5, 7].map { $0 / 16 }
        for (host, share) in counts.shares.enumerated() {
            #expect(abs(share - expected[host]) < fiveSigma(expected[host], draws), "host \(host): \(counts.shares)")
        }
    }

    @Test("a host with many active requests gets (1/n)^choiceCount of the picks", arguments: [1, 2, 3, 4])
    func busyHostNeedsEveryDraw(choiceCount: Int) {
        // Host 0 wins only when every one of the choiceCount draws lands on it.
        let draws = 40_000
        let counts = tally(balancer([1, 1, 1, 1], choiceCount: choiceCount), active: [100, 0, 0, 0], draws: draws)
        let expected = 1 / Double(1 << (2 * choiceCount))
        let share = counts.shares[0]
        #expect(abs(share - expected) < fiveSigma(expected, draws), "choiceCount \(choiceCount): share \(share)")
    }

    @Test("more choices send less to a busy host")
    func moreChoicesAvoidBusyHost() {
        let active = [50, 5, 0, 0, 0, 0, 0, 0]
        let shares = [1, 2, 5].map {
            tally(balancer(Array(repeating: 1, count: 8), choiceCount: $0), active: active, draws: 20_000).shares[0]
        }
        #expect(shares[0] > shares[1] && shares[1] > shares[2], "busy host shares \(shares)")
        #expect(shares[2] < 0.001)
    }

    @Test("a slow host accumulates requests and gets far fewer picks (closed loop)")
    func slowHostPickedLess() {
        // Three hosts; a request holds host 0 for 30 ticks and the others for 3. One pick per tick.
        var balancer = balancer([1, 1, 1])
        var random = FastRandom(seed: 5)
        var active = [0, 0, 0]
        var finishing: [[Int]] = Array(repeating: [], count: 31)
        var tally = PickCounts(hosts: 3)
        for tick in 0..<30_000 {
            for host in finishing[tick % 31] { active[host] -= 1 }
            finishing[tick % 31] = []
            let host = balancer.pick(using: &random) { active[$0] } ?? 0
            tally.record(host)
            active[host] += 1
            finishing[(tick + (host == 0 ? 30 : 3)) % 31].append(host)
        }
        // Round robin or random would give host 0 a third; P2C keeps it well below.
        #expect(tally.shares[0] < 0.15, "shares \(tally.shares)")
    }

    // MARK: Different weights: EDF with weight / (active + 1)^bias

    @Test("weights 1:2:3 with equal active counts: 60 000 picks split exactly 10 000, 20 000, 30 000")
    func weightedEqualActive() {
        for active in [[0, 0, 0], [7, 7, 7]] {
            let counts = tally(balancer([1, 2, 3]), active: active, draws: 60_000)
            // Equal active counts scale every weight alike, so EDF keeps exact proportions per cycle.
            #expect(counts.counts.enumerated().allSatisfy { abs($1 - 10_000 * ($0 + 1)) <= 1 }, "\(counts.counts)")
        }
    }

    @Test("weighted: a busy host's weight is divided by active + 1")
    func weightedBusyHost() {
        // Effective weights 2/10, 1, 1: host 0 gets 0.2/2.2 ≈ 9.1% instead of 50%.
        let counts = tally(balancer([2, 1, 1]), active: [9, 0, 0], draws: 22_000)
        #expect(abs(counts.shares[0] - 0.2 / 2.2) < 0.002, "shares \(counts.shares)")
        #expect(abs(counts.shares[1] - counts.shares[2]) < 0.002)
    }

    @Test("weighted: active_request_bias 0 ignores active requests, 0.5 divides by the square root")
    func weightedBias() {
        let ignoring = tally(balancer([2, 1, 1], bias: 0), active: [9, 0, 0], draws: 20_000)
        #expect(ignoring.counts == [10_000, 5_000, 5_000])
        // 4 / sqrt(15 + 1) = 1: host 0 ties with host 1.
        let squareRoot = tally(balancer([4, 1], bias: 0.5), active: [15, 0], draws: 20_000)
        #expect(abs(squareRoot.counts[0] - 10_000) <= 1, "\(squareRoot.counts)")
    }

    @Test("weighted: active counts are read when the picked host goes back, so a change takes effect")
    func weightedReactsToChanges() {
        var lb = balancer([1, 3])
        var random = FastRandom(seed: 8)
        var active = [0, 0]
        var early = PickCounts(hosts: 2)
        for _ in 0..<4_000 { early.record(lb.pick(using: &random) { active[$0] }) }
        active[1] = 11  // host 1 becomes busy: effective weights 1 and 3/12
        var late = PickCounts(hosts: 2)
        for _ in 0..<5_000 { late.record(lb.pick(using: &random) { active[$0] }) }
        #expect(abs(early.shares[1] - 0.75) < 0.01, "before: \(early.shares)")
        #expect(abs(late.shares[1] - 0.2) < 0.01, "after: \(late.shares)")
    }

    @Test("a negative or NaN bias falls back to 1.0, as in Envoy")
    func invalidBias() {
        #expect(LeastRequestBalancer.Configuration(activeRequestBias: -1).activeRequestBias == 1.0)
        #expect(LeastRequestBalancer.Configuration(activeRequestBias: .nan).activeRequestBias == 1.0)
        #expect(LeastRequestBalancer.Configuration().choiceCount == 2)
    }

    // MARK: Edge cases

    @Test("no hosts, or no host with a positive weight, picks nothing")
    func emptyPicksNil() {
        var random = FastRandom(seed: 1)
        var none = balancer([])
        var zeros = balancer([0, 0, 0])
        #expect(none.pick(using: &random) { _ in 0 } == nil)
        #expect(zeros.pick(using: &random) { _ in 0 } == nil)
    }

    @Test("a single host is always picked, however busy")
    func singleHost() {
        var lb = balancer([5])
        var random = FastRandom(seed: 1)
        #expect((0..<100).allSatisfy { _ in lb.pick(using: &random) { _ in 1_000 } == 0 })
    }

    @Test("hosts with weight 0 are never picked")
    func zeroWeightNeverPicked() {
        let counts = tally(balancer([0, 3, 1]), active: [0, 0, 0], draws: 4_000)
        #expect(counts.counts == [0, 3_000, 1_000])
    }

    @Test("weighted: a very busy host is picked rarely but never drained completely")
    func busyHostNotDrained() {
        // Effective weight 2 / 100 001 ≈ 1/50 000 against 1: after its first deadline (from the configured
        // weight), host 1 comes up about once every 50 000 picks.
        let counts = tally(balancer([1, 2]), active: [0, 100_000], draws: 100_000)
        #expect((2...3).contains(counts.counts[1]), "\(counts.counts)")
    }
}
