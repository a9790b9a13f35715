/// Tallies for distribution tests: how often each host came up, and how far the observed shares
/// stray from the expected ones.
struct PickCounts {
    private(set) var counts: [Int]
    private(set) var misses = 0

    init(hosts: Int) {
        counts = Array(repeating: 0, count: hosts)
    }

    /// Runs `pick` `draws` times and tallies the results (nil counts as a miss).
    init(hosts: Int, draws: Int, _ pick: () -> Int?) {
        self.init(hosts: hosts)
        for _ in 0..<draws { record(pick()) }
    }

    /// Tallies the host each hash maps to.
    init(hosts: Int, hashes: [UInt64], _ pick: (UInt64) -> Int?) {
        self.init(hosts: hosts)
        for hash in hashes { record(pick(hash)) }
    }

    mutating func record(_ host: Int?) {
        if let host { counts[host] += 1 } else { misses += 1 }
    }

    var total: Int { counts.reduce(0, +) + misses }

    var shares: [Double] { counts.map { Double($0) / Double(total) } }

    /// The largest absolute difference between an observed share and `weights[i] / Σ weights`.
    func largestShareError(expectedWeights weights: [Double]) -> Double {
        let sum = weights.reduce(0, +)
        return zip(shares, weights).map { abs($0 - $1 / sum) }.max() ?? 0
    }

    /// Pearson's chi-square statistic against the share each weight implies.
    func chiSquare(expectedWeights weights: [Double]) -> Double {
        let sum = weights.reduce(0, +)
        return zip(counts, weights).reduce(0.0) { statistic, pair in
            let expected = Double(total) * pair.1 / sum
            return statistic + (Double(pair.0) - expected) * (Double(pair.0) - expected) / expected
        }
    }
}
