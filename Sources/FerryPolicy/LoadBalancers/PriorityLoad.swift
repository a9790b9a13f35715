/// Envoy's priority load: how traffic is split across priority levels by their health.
///
/// Each level's health is `min(100, overprovisioning% × healthy / total)`; level 0 takes its
/// health percentage, each next level takes the remainder up to its own health, and when the
/// levels together are less than 100% healthy the loads are scaled up to sum to 100.
/// Values are percentages that sum to 100 (or all zero when nothing is healthy).
public struct PriorityLoad: Sendable, Equatable {
    public var percentages: [Int]

    public init(healthy: [Int], total: [Int], overprovisioningFactor: Int = 140) {
        precondition(healthy.count == total.count)
        let health = zip(healthy, total).map { h, t -> Int in
            t == 0 ? 0 : min(100, overprovisioningFactor * h / t)
        }
        let sum = health.reduce(0, +)
        var loads = Array(repeating: 0, count: health.count)
        guard sum > 0 else {
            percentages = loads
            return
        }
        if sum >= 100 {
            var remaining = 100
            for (i, h) in health.enumerated() {
                let take = min(h, remaining)
                loads[i] = take
                remaining -= take
            }
        } else {
            // Normalise: scale each level's health so the total is 100; as Envoy does, the rounding
            // leftover goes entirely to the first level with health.
            var assigned = 0
            for (i, h) in health.enumerated() {
                loads[i] = h * 100 / sum
                assigned += loads[i]
            }
            if let first = health.firstIndex(where: { $0 > 0 }) { loads[first] += 100 - assigned }
        }
        percentages = loads
    }

    /// The priority for a draw in 0..<100, or nil when every level has zero load.
    public func priority(for draw: Int) -> Int? {
        var running = 0
        for (i, p) in percentages.enumerated() {
            running += p
            if draw < running { return i }
        }
        return nil
    }
}
