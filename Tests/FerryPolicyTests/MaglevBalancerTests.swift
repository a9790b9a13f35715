import FerryPolicy
import Testing

/// Expected tables marked "Envoy" are copied from Envoy's own tests
/// (`test/extensions/load_balancing_policies/maglev/maglev_lb_test.cc`), so passing them means a key
/// lands on the same address under Ferry and Envoy.
@Suite("MaglevBalancer")
struct MaglevBalancerTests {
    static let ports90to95 = (90...95).map { "127.0.0.1:\($0)" }

    private func slots(_ maglev: MaglevBalancer, _ count: Int) -> [Int] {
        (0..<UInt64(count)).map { maglev.pick(hash: $0) ?? -1 }
    }

    @Test("Envoy Basic: six hosts in a table of 7")
    func envoyBasic() {
        let maglev = MaglevBalancer(addresses: Self.ports90to95, weights: Array(repeating: 1, count: 6), tableSize: 7)
        #expect(maglev.tableSize == 7)
        #expect(slots(maglev, 21) == Array(repeating: [2, 4, 0, 1, 5, 0, 3], count: 3).flatMap { $0 })
        #expect(maglev.entriesPerHost.min() == 1 && maglev.entriesPerHost.max() == 2)
    }

    @Test("Envoy BasicWithHostName: the hash key is whatever string the caller passes")
    func envoyHostnames() {
        let maglev = MaglevBalancer(
            addresses: (90...95).map(String.init), weights: Array(repeating: 1, count: 6), tableSize: 7)
        #expect(slots(maglev, 7) == [2, 5, 0, 3, 4, 1, 0])
    }

    @Test("Envoy Weighted: weights 1:2 in a table of 17")
    func envoyWeighted() {
        let maglev = MaglevBalancer(addresses: ["127.0.0.1:90", "127.0.0.1:91"], weights: [1, 2], tableSize: 17)
        #expect(slots(maglev, 17) == [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1])
        #expect(maglev.entriesPerHost == [6, 11])
    }

    @Test("Envoy BasicWithRetryHostPredicate: attempts flip the hash to other slots")
    func envoyRetryAttempts() {
        let maglev = MaglevBalancer(addresses: Self.ports90to95, weights: Array(repeating: 1, count: 6), tableSize: 7)
        #expect(maglev.pick(hash: 10) == 1)
        #expect(maglev.pick(hash: 10, attempt: 1) == 0)
        #expect(maglev.pick(hash: 10, attempt: 2) == 5)
    }

    @Test("Envoy BasicStability: the input order of hosts does not change any key's address")
    func orderIndependent() {
        let addresses = HashKeys.addresses(12)
        let weights: [UInt32] = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]
        let maglev = MaglevBalancer(addresses: addresses, weights: weights, tableSize: 1009)
        let order = [7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 6, 4]
        let shuffled = MaglevBalancer(
            addresses: order.map { addresses[$0] }, weights: order.map { weights[$0] }, tableSize: 1009)
        let keys = (0..<UInt64(1009)).map { $0 }
        #expect(keys.allSatisfy { addresses[maglev.pick(hash: $0)!] == addresses[order[shuffled.pick(hash: $0)!]] })
    }

    @Test("the default table has 65 537 slots, shared out in proportion to the weights (±1)")
    func defaultTableProportions() {
        let maglev = MaglevBalancer(addresses: HashKeys.addresses(3), weights: [1, 2, 3])
        #expect(MaglevBalancer.defaultTableSize == 65537)
        #expect(maglev.tableSize == 65537)
        let expected = [1.0, 2, 3].map { 65537 * $0 / 6 }
        #expect(
            zip(maglev.entriesPerHost, expected).allSatisfy { abs(Double($0) - $1) <= 1 }, "\(maglev.entriesPerHost)")
        #expect(maglev.entriesPerHost.reduce(0, +) == 65537)
    }

    @Test("weights 1:2:3: 60 000 keys land within 0.005 of each weight's share")
    func weightedDistribution() {
        let maglev = MaglevBalancer(addresses: HashKeys.addresses(3), weights: [1, 2, 3])
        let counts = PickCounts(hosts: 3, hashes: HashKeys.hashes(60_000)) { maglev.pick(hash: $0) }
        // The table is proportional to ±1 slot, so only the keys' binomial noise remains (one standard
        // deviation ≤ 0.002); measured 0.00075.
        let error = counts.largestShareError(expectedWeights: [1, 2, 3])
        #expect(error < 0.005, "shares \(counts.shares)")
    }

    @Test("the same key always maps to the same host across builds")
    func consistentAcrossBuilds() {
        let addresses = HashKeys.addresses(10)
        let weights = [UInt32](repeating: 1, count: 10)
        let first = MaglevBalancer(addresses: addresses, weights: weights)
        let second = MaglevBalancer(addresses: addresses, weights: weights)
        #expect(HashKeys.hashes(10_000).allSatisfy { first.pick(hash: $0) == second.pick(hash: $0) })
    }

    @Test("removing one of 10 hosts moves at most 1.5/N of 10 000 keys; survivors keep at least 98% of theirs")
    func removalMovesFewKeys() {
        let addresses = HashKeys.addresses(10)
        let keys = HashKeys.hashes(10_000)
        for removed in [0, 6] {
            let movement = HashKeys.movementAfterRemoving(removed, from: addresses, keys: keys) { hosts in
                let balancer = MaglevBalancer(addresses: hosts, weights: Array(repeating: 1, count: hosts.count))
                return { balancer.pick(hash: $0) }
            }
            // The removed host's keys (about 1/N) all move; Maglev's fill moves a few more slots among the
            // survivors. Measured worst over all ten choices: 1.08/N in total, 0.6% of survivors' keys.
            #expect(movement.movedShare <= 1.5 / 10, "removed \(removed): moved \(movement.movedShare)")
            #expect(movement.survivorMovedShare <= 0.02, "removed \(removed): survivors \(movement.survivorMovedShare)")
        }
    }

    @Test("table sizes must be prime, as Envoy requires")
    func primality() {
        #expect([2, 3, 5, 7, 17, 1009, 65537, 5_000_011].allSatisfy(MaglevBalancer.isPrime))
        #expect(![0, 1, 4, 9, 25, 65536, 65535, 1_000_000].contains(where: MaglevBalancer.isPrime))
    }

    @Test("no hosts, or no host with a positive weight, picks nothing")
    func emptyPicksNil() {
        let none = MaglevBalancer(addresses: [], weights: [], tableSize: 7)
        #expect(none.pick(hash: 3) == nil)
        #expect(none.tableSize == 0)
        #expect(MaglevBalancer(addresses: ["a:1"], weights: [0], tableSize: 7).pick(hash: 3) == nil)
    }

    @Test("a single host takes every slot; a host with weight 0 takes none")
    func singleAndZeroWeight() {
        let single = MaglevBalancer(addresses: ["127.0.0.1:90"], weights: [7], tableSize: 17)
        #expect(slots(single, 17) == Array(repeating: 0, count: 17))
        let withZero = MaglevBalancer(addresses: HashKeys.addresses(3), weights: [1, 0, 1], tableSize: 101)
        #expect(withZero.entriesPerHost[1] == 0)
        #expect(withZero.entriesPerHost[0] + withZero.entriesPerHost[2] == 101)
    }
}
