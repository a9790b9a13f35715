import FerryPolicy
import Testing

/// Expected values follow Envoy's priority-level documentation ("Priority levels" in the load
/// balancing overview) and `LoadBalancerBase::recalculatePerPriorityState`.
@Suite("PriorityLoad")
struct PriorityLoadTests {
    @Test("all hosts healthy: P0 takes everything")
    func allHealthy() {
        #expect(PriorityLoad(healthy: [10, 10], total: [10, 10]).percentages == [100, 0])
    }

    @Test("P0 at 50% health with the 1.4 factor takes 70%, P1 the rest")
    func halfHealthyP0() {
        #expect(PriorityLoad(healthy: [5, 10], total: [10, 10]).percentages == [70, 30])
    }

    @Test("P0 at 80% health still takes everything (80% × 1.4 ≥ 100%)")
    func mostlyHealthyP0() {
        #expect(PriorityLoad(healthy: [8, 10], total: [10, 10]).percentages == [100, 0])
    }

    @Test("P0 with no healthy host sends everything to P1")
    func unhealthyP0() {
        #expect(PriorityLoad(healthy: [0, 10], total: [10, 10]).percentages == [0, 100])
    }

    @Test("two levels both 20% healthy are normalised to sum to 100")
    func normalisedWhenBothDegraded() {
        let load = PriorityLoad(healthy: [2, 2], total: [10, 10])
        #expect(load.percentages == [50, 50])
        #expect(load.percentages.reduce(0, +) == 100)
    }

    @Test("three levels: each takes what it can until 100% is spent")
    func spillsAcrossThreeLevels() {
        // Health 28%, 42%, 100%: P0 28, P1 42, P2 the remaining 30.
        #expect(PriorityLoad(healthy: [2, 3, 10], total: [10, 10, 10]).percentages == [28, 42, 30])
    }

    @Test("rounding leftovers of a normalised load go to the first healthy level, as in Envoy")
    func roundingRemainderToFirstHealthy() {
        // Health 20%, 20%, 20%, 1% (sum 61): 20 × 100 / 61 = 32 and 1 × 100 / 61 = 1 give 97, so 3 points
        // are left over; Envoy adds them all to the first level with health.
        #expect(PriorityLoad(healthy: [1, 1, 1, 1], total: [7, 7, 7, 140]).percentages == [35, 32, 32, 1])
        // The same when P0 has no health: the remainder goes to P1.
        #expect(PriorityLoad(healthy: [0, 1, 1, 1], total: [10, 7, 7, 140]).percentages == [0, 50, 48, 2])
    }

    @Test("a custom overprovisioning factor changes each level's health")
    func customFactor() {
        // Factor 100: 50% healthy means 50% health, so P1 takes the other half.
        #expect(PriorityLoad(healthy: [5, 10], total: [10, 10], overprovisioningFactor: 100).percentages == [50, 50])
        // Factor 200: 50% healthy is already 100%.
        #expect(PriorityLoad(healthy: [5, 10], total: [10, 10], overprovisioningFactor: 200).percentages == [100, 0])
    }

    @Test("empty levels count as unhealthy")
    func emptyLevel() {
        #expect(PriorityLoad(healthy: [0, 3], total: [0, 3]).percentages == [0, 100])
    }

    @Test("nothing healthy: every load is zero and no draw picks a priority")
    func nothingHealthy() {
        let load = PriorityLoad(healthy: [0, 0], total: [10, 5])
        #expect(load.percentages == [0, 0])
        #expect((0..<100).allSatisfy { load.priority(for: $0) == nil })
    }

    @Test("priority(for:) switches levels exactly at the running sums")
    func priorityBoundaries() {
        let load = PriorityLoad(healthy: [5, 10], total: [10, 10])  // [70, 30]
        #expect(load.priority(for: 0) == 0)
        #expect(load.priority(for: 69) == 0)
        #expect(load.priority(for: 70) == 1)
        #expect(load.priority(for: 99) == 1)
        #expect(load.priority(for: 100) == nil)

        let skipP0 = PriorityLoad(healthy: [0, 10], total: [10, 10])  // [0, 100]
        #expect(skipP0.priority(for: 0) == 1)
        #expect(skipP0.priority(for: 99) == 1)
    }

    @Test("loads always sum to 100 when anything is healthy")
    func alwaysSumsTo100() {
        var failures: [String] = []
        for h0 in 0...7 {
            for h1 in 0...7 {
                for h2 in 0...3 where h0 + h1 + h2 > 0 {
                    let load = PriorityLoad(healthy: [h0, h1, h2], total: [7, 7, 3])
                    if load.percentages.reduce(0, +) != 100 {
                        failures.append("\([h0, h1, h2]) → \(load.percentages)")
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}
