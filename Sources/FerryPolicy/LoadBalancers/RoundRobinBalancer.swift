/// Envoy's `ROUND_ROBIN`: plain rotation when all weights are equal, EDF-smoothed weighted
/// rotation otherwise. One instance per worker loop per cluster; the starting point is
/// randomised per instance so workers do not move in lockstep.
public struct RoundRobinBalancer: Sendable {
    private let count: Int
    private var next: Int
    private var weighted: EDFScheduler?

    public init(weights: [UInt32], random: inout FastRandom) {
        count = weights.count
        next = count > 0 ? Int(random.next(below: UInt64(count))) : 0
        let uniform = weights.allSatisfy { $0 == weights.first }
        weighted = uniform ? nil : EDFScheduler(weights: weights.map(Double.init), offset: next)
    }

    /// The next host index, or nil for an empty host list.
    public mutating func pick() -> Int? {
        guard count > 0 else { return nil }
        if weighted != nil { return weighted!.pick() }
        let chosen = next
        next = next + 1 == count ? 0 : next + 1
        return chosen
    }
}
