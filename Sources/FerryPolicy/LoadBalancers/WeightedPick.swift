/// Chooses an index in proportion to integer weights with one random draw, the way Envoy picks
/// among `weighted_clusters`: a value in 0..<total, then the first entry whose running sum
/// exceeds it. Built once per configuration; picking is a linear walk (route weight lists are short).
public struct WeightedPick: Sendable {
    public let cumulative: [UInt64]
    public var total: UInt64 { cumulative.last ?? 0 }

    /// Weights may include zeros (never picked); their sum must be positive.
    public init(weights: [UInt64]) {
        var running: UInt64 = 0
        cumulative = weights.map { running += $0; return running }
    }

    /// The index for a value in 0..<total.
    @inline(__always)
    public func index(for value: UInt64) -> Int {
        for (i, c) in cumulative.enumerated() where value < c { return i }
        return cumulative.count - 1
    }

    public func pick(using random: inout FastRandom) -> Int {
        index(for: random.next(below: total))
    }
}
