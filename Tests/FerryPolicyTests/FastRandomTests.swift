import FerryPolicy
import Testing

@Suite("FastRandom")
struct FastRandomTests {
    @Test("the same seed gives the same sequence, a different seed a different one")
    func deterministicForASeed() {
        var a = FastRandom(seed: 42)
        var b = FastRandom(seed: 42)
        var c = FastRandom(seed: 43)
        let first = (0..<100).map { _ in a.next() }
        let second = (0..<100).map { _ in b.next() }
        let other = (0..<100).map { _ in c.next() }
        #expect(first == second)
        #expect(first != other)
    }

    @Test("output matches a reference xoshiro256** seeded through splitmix64")
    func matchesReferenceImplementation() {
        // Computed with an independent Python implementation; the same code reproduces the published
        // xoshiro256** vector for state {1, 2, 3, 4} (11520, 0, 1509978240, 1215971899390074240) and
        // splitmix64(0) = 0xE220A8397B1DCDAF.
        var seed42 = FastRandom(seed: 42)
        #expect(seed42.next() == 0x1578_0B2E_0C2E_C716)
        #expect(seed42.next() == 0x6104_D986_6D11_3A7E)
        #expect(seed42.next() == 0xAE17_5332_39E4_99A1)
        var seed0 = FastRandom(seed: 0)
        #expect(seed0.next() == 0x99EC_5F36_CB75_F2B4)
        #expect(seed0.next() == 0xBF6E_1F78_4956_452A)
    }

    static let bounds: [UInt64] = [1, 2, 3, 7, 10, (1 << 32) + 1, UInt64.max / 2 + 2, UInt64.max - 1, UInt64.max]

    @Test("next(below:) always returns a value below the bound", arguments: bounds)
    func staysInRange(bound: UInt64) {
        var random = FastRandom(seed: bound)
        var outOfRange = 0
        for _ in 0..<20_000 where random.next(below: bound) >= bound { outOfRange += 1 }
        #expect(outOfRange == 0)
    }

    @Test("a bound of one always yields zero")
    func boundOfOne() {
        var random = FastRandom(seed: 9)
        #expect((0..<1000).allSatisfy { _ in random.next(below: 1) == 0 })
    }

    @Test("next(below:) reaches every value of a small range")
    func coversSmallRange() {
        var random = FastRandom(seed: 5)
        var seen = Set<UInt64>()
        for _ in 0..<1000 { seen.insert(random.next(below: 7)) }
        #expect(seen == Set(0..<7))
    }

    @Test("draws over ten buckets pass a chi-square uniformity test", arguments: [UInt64(1), 42, 20_240_601])
    func roughlyUniform(seed: UInt64) {
        var random = FastRandom(seed: seed)
        var buckets = [Int](repeating: 0, count: 10)
        let draws = 100_000
        for _ in 0..<draws { buckets[Int(random.next(below: 10))] += 1 }
        let expected = Double(draws) / 10
        let chiSquare = buckets.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        // 9 degrees of freedom: a uniform source exceeds 27.88 with probability 0.001. The seeds are fixed,
        // so this either always passes or always fails; a biased generator (for example modulo bias or a
        // stuck bit) lands far above it.
        #expect(chiSquare < 27.88, "buckets \(buckets), chi-square \(chiSquare)")
        #expect(buckets.reduce(0, +) == draws)
    }

    @Test("the generator works through the standard library's RandomNumberGenerator API")
    func standardLibraryInterop() {
        var random = FastRandom(seed: 3)
        let values = (0..<1000).map { _ in Int.random(in: 10..<20, using: &random) }
        #expect(values.allSatisfy { (10..<20).contains($0) })
        #expect(Set(values).count == 10)
    }
}
