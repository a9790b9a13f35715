import FerryPolicy
import Testing

@Suite("WeightedPick")
struct WeightedPickTests {
    @Test("index(for:) switches entries exactly at the running sums")
    func boundaries() {
        let pick = WeightedPick(weights: [80, 20])
        #expect(pick.total == 100)
        #expect(pick.cumulative == [80, 100])
        #expect(pick.index(for: 0) == 0)
        #expect(pick.index(for: 79) == 0)
        #expect(pick.index(for: 80) == 1)
        #expect(pick.index(for: 99) == 1)
    }

    @Test("zero weights own no values")
    func zeroWeightsNeverChosen() {
        let pick = WeightedPick(weights: [0, 5, 0, 5, 0])
        #expect(pick.total == 10)
        #expect((0..<5).allSatisfy { pick.index(for: $0) == 1 })
        #expect((5..<10).allSatisfy { pick.index(for: $0) == 3 })
    }

    @Test("every value maps to the entry whose share contains it")
    func everyValueMapsToItsShare() {
        let weights: [UInt64] = [3, 1, 4, 1, 5]
        let pick = WeightedPick(weights: weights)
        var expected: [Int] = []
        for (index, weight) in weights.enumerated() { expected += Array(repeating: index, count: Int(weight)) }
        #expect((0..<pick.total).map { pick.index(for: $0) } == expected)
    }

    @Test("a single entry takes every value")
    func singleEntry() {
        let pick = WeightedPick(weights: [7])
        var random = FastRandom(seed: 2)
        #expect((0..<100).allSatisfy { _ in pick.pick(using: &random) == 0 })
    }

    @Test("80/20 over 100k seeded picks lands within one percentage point of 80%")
    func eightyTwentySplit() {
        let pick = WeightedPick(weights: [80, 20])
        var random = FastRandom(seed: 2024)
        let draws = 100_000
        var first = 0
        for _ in 0..<draws where pick.pick(using: &random) == 0 { first += 1 }
        let share = Double(first) / Double(draws)
        // Binomial standard deviation of the share: sqrt(0.8 × 0.2 / 100000) ≈ 0.00126, so ±0.01 is
        // about 7.9 standard deviations: a fair picker essentially never leaves it, while an off-by-one
        // in the boundaries (79/21 or 81/19) or a biased draw moves the share by a whole point.
        #expect(abs(share - 0.8) < 0.01, "share \(share)")
    }

    @Test("weights near UInt32.max still split exactly")
    func largeWeights() {
        let pick = WeightedPick(weights: [UInt64(UInt32.max), UInt64(UInt32.max)])
        #expect(pick.index(for: UInt64(UInt32.max) - 1) == 0)
        #expect(pick.index(for: UInt64(UInt32.max)) == 1)
        #expect(pick.index(for: 2 * UInt64(UInt32.max) - 1) == 1)
    }
}
