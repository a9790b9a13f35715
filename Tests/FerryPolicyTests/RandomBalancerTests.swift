import FerryPolicy
import Testing

@Suite("RandomBalancer")
struct RandomBalancerTests {
    @Test("equal weights: 50 000 picks over five hosts pass a chi-square uniformity test")
    func uniformWhenWeightsEqual() {
        let balancer = RandomBalancer(weights: [4, 4, 4, 4, 4])
        var random = FastRandom(seed: 7)
        let tally = PickCounts(hosts: 5, draws: 50_000) { balancer.pick(using: &random) }
        // 4 degrees of freedom: a uniform picker exceeds 18.47 with probability 0.001.
        let chiSquare = tally.chiSquare(expectedWeights: [1, 1, 1, 1, 1])
        #expect(chiSquare < 18.47, "counts \(tally.counts), chi-square \(chiSquare)")
        #expect(tally.misses == 0)
    }

    @Test("weights 1:2:3 over 60 000 picks: every share within 0.01 of 1/6, 2/6, 3/6")
    func weightedShares() {
        let balancer = RandomBalancer(weights: [1, 2, 3])
        var random = FastRandom(seed: 2024)
        let tally = PickCounts(hosts: 3, draws: 60_000) { balancer.pick(using: &random) }
        // The binomial standard deviation of a share is at most sqrt(0.25 / 60 000) ≈ 0.002, so 0.01 is
        // five of them; ignoring the weights (1/3 each) would be off by 0.17.
        let error = tally.largestShareError(expectedWeights: [1, 2, 3])
        #expect(error < 0.01, "shares \(tally.shares)")
    }

    @Test("a host with weight 0 is never picked")
    func zeroWeightNeverPicked() {
        let balancer = RandomBalancer(weights: [0, 5, 0, 5])
        var random = FastRandom(seed: 3)
        let tally = PickCounts(hosts: 4, draws: 10_000) { balancer.pick(using: &random) }
        #expect(tally.counts[0] == 0 && tally.counts[2] == 0)
        #expect(tally.counts[1] > 4_500 && tally.counts[3] > 4_500, "counts \(tally.counts)")
    }

    @Test("no hosts, or no host with a positive weight, picks nothing")
    func emptyPicksNil() {
        var random = FastRandom(seed: 1)
        #expect(RandomBalancer(weights: []).pick(using: &random) == nil)
        #expect(RandomBalancer(weights: [0, 0]).pick(using: &random) == nil)
    }

    @Test("a single host is always picked")
    func singleHost() {
        let balancer = RandomBalancer(weights: [9])
        var random = FastRandom(seed: 1)
        #expect((0..<100).allSatisfy { _ in balancer.pick(using: &random) == 0 })
    }

    @Test("the same seed gives the same picks")
    func reproducible() {
        let balancer = RandomBalancer(weights: [1, 2, 3, 4])
        var first = FastRandom(seed: 99)
        var second = FastRandom(seed: 99)
        let a = (0..<200).map { _ in balancer.pick(using: &first) }
        let b = (0..<200).map { _ in balancer.pick(using: &second) }
        #expect(a == b)
        #expect(Set(a.compactMap { $0 }) == [0, 1, 2, 3])
    }
}
