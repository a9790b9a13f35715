import FerryPolicy
import Testing

@Suite("RoundRobinBalancer")
struct RoundRobinBalancerTests {
    @Test("equal weights rotate in order from the random starting point")
    func equalWeightsRotate() {
        for seed in UInt64(0)..<20 {
            var random = FastRandom(seed: seed)
            var peek = random  // FastRandom is a value: the copy predicts the balancer's first draw
            let start = Int(peek.next(below: 5))
            var balancer = RoundRobinBalancer(weights: [1, 1, 1, 1, 1], random: &random)
            let sequence = (0..<12).map { _ in balancer.pick() }
            #expect(sequence == (0..<12).map { ($0 + start) % 5 }, "seed \(seed)")
        }
    }

    @Test("the starting point differs between instances")
    func startIsRandomised() {
        var starts = Set<Int>()
        var random = FastRandom(seed: 11)
        for _ in 0..<50 {
            var balancer = RoundRobinBalancer(weights: [3, 3, 3, 3], random: &random)
            starts.insert(balancer.pick() ?? -1)
        }
        #expect(starts == [0, 1, 2, 3])
    }

    @Test("one host is always picked")
    func singleHost() {
        var random = FastRandom(seed: 1)
        var balancer = RoundRobinBalancer(weights: [7], random: &random)
        #expect((0..<10).allSatisfy { _ in balancer.pick() == 0 })
    }

    @Test("an empty host list picks nothing")
    func emptyPicksNil() {
        var random = FastRandom(seed: 1)
        var balancer = RoundRobinBalancer(weights: [], random: &random)
        #expect(balancer.pick() == nil)
        #expect(balancer.pick() == nil)
    }

    @Test("different weights follow EDF: exact proportions over every full cycle")
    func weightedUsesEDF() {
        var random = FastRandom(seed: 99)
        var balancer = RoundRobinBalancer(weights: [3, 1, 2], random: &random)
        for cycle in 0..<200 {
            var counts = [0, 0, 0]
            for _ in 0..<6 { counts[balancer.pick() ?? 0] += 1 }
            #expect(counts == [3, 1, 2], "cycle \(cycle)")
        }
    }

    @Test("weighted picks are spread out, not sent in bursts")
    func weightedIsSmooth() {
        var random = FastRandom(seed: 4)
        var balancer = RoundRobinBalancer(weights: [1, 9], random: &random)
        let sequence = (0..<1000).map { _ in balancer.pick() ?? -1 }
        // Host 0 (weight 1 of 10) appears once in every cycle of ten, so no two picks of it are
        // closer than a cycle apart minus the cycle's slack.
        let positions = sequence.indices.filter { sequence[$0] == 0 }
        #expect(positions.count == 100)
        #expect(zip(positions, positions.dropFirst()).allSatisfy { $1 - $0 >= 9 && $1 - $0 <= 11 })
    }
}
