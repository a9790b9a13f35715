/// Envoy's `MAGLEV` consistent hashing (Google's Maglev paper, section 3.4, with Envoy's weighting),
/// built as `maglev_lb.cc` builds it so a key lands on the same address under Ferry and Envoy:
///
/// - hosts are taken in ascending order of address (the fill order decides ties, so it must not
///   depend on discovery order);
/// - each host's permutation of the table is `offset + skip × j (mod size)`, with
///   `offset = xxHash64(address, seed 0) % size` and `skip = xxHash64(address, seed 1) % (size − 1) + 1`;
/// - the table is filled in rounds; in round `r` a host takes its next free slot when
///   `r × weight ≥ its target`, and then its target grows by the largest weight, so a host with the
///   largest normalised weight fills a slot every round and one with a third of it every third round;
/// - a key's host is `table[hash % size]`.
///
/// Lookups are O(1). Immutable once built; the table (4 bytes a slot) is shared by copies.
///
/// Zero weights: Envoy rejects `load_balancing_weight: 0`; here such hosts get no slots.
public struct MaglevBalancer: Sendable {
    /// Envoy's default (the paper's recommendation, section 5.3). Must be prime.
    public static let defaultTableSize = 65537

    /// `table[slot]` is the host index owning that slot; empty when no host has a positive weight.
    private let table: [UInt32]

    /// Table slots of each host, in input order (Envoy's `min_`/`max_entries_per_host` gauges).
    public let entriesPerHost: [Int]

    /// The number of slots: the configured size, or 0 when no host has a positive weight.
    public var tableSize: Int { table.count }

    /// `addresses[i]` is host `i`'s hash key, with weight `weights[i]`. `tableSize` must be prime
    /// (config validation checks it first with `isPrime`; Envoy: "The table size of maglev must be
    /// prime number").
    public init(addresses: [String], weights: [UInt32], tableSize: Int = defaultTableSize) {
        precondition(addresses.count == weights.count)
        precondition(Self.isPrime(tableSize), "Maglev table size must be prime")
        table = Self.fill(Self.permutations(addresses: addresses, weights: weights, size: tableSize), size: tableSize)
        var counts = [Int](repeating: 0, count: addresses.count)
        for host in table { counts[Int(host)] += 1 }
        entriesPerHost = counts
    }

    /// The host index for a request hash, or nil when no host has a positive weight. `attempt` > 0
    /// (a retry whose host predicate rejected the earlier choice) flips the hash as Envoy does,
    /// `hash ^ (2⁶⁴ − attempt)`, to land far from the first slot.
    public func pick(hash: UInt64, attempt: Int = 0) -> Int? {
        guard !table.isEmpty else { return nil }
        let key = attempt > 0 ? hash ^ (0 &- UInt64(attempt)) : hash
        return Int(table[Int(key % UInt64(table.count))])
    }

    public static func isPrime(_ n: Int) -> Bool {
        guard n >= 2 else { return false }
        if n < 4 { return true }
        if n % 2 == 0 || n % 3 == 0 { return false }
        var d = 5
        while d * d <= n {
            if n % d == 0 || n % (d + 2) == 0 { return false }
            d += 6
        }
        return true
    }

    struct Permutation {
        let host: UInt32
        let offset: UInt64
        let skip: UInt64
        let weight: Double
        var target = 0.0
        var next: UInt64 = 0
    }

    /// One permutation per host with a positive weight, in ascending address order.
    static func permutations(addresses: [String], weights: [UInt32], size: Int) -> [Permutation] {
        let total = Double(weights.reduce(UInt64(0)) { $0 + UInt64($1) })
        // Byte order, as Envoy's std::sort over string_views; equal addresses keep their input order.
        let order = addresses.indices.filter { weights[$0] > 0 }.sorted { a, b in
            let (x, y) = (addresses[a].utf8, addresses[b].utf8)
            return x.elementsEqual(y) ? a < b : x.lexicographicallyPrecedes(y)
        }
        return order.map { host in
            let address = addresses[host]
            return Permutation(
                host: UInt32(host),
                offset: XXHash64.hash(address) % UInt64(size),
                skip: XXHash64.hash(address, seed: 1) % UInt64(size - 1) + 1,
                weight: Double(weights[host]) / total
            )
        }
    }

    static func fill(_ permutations: [Permutation], size: Int) -> [UInt32] {
        guard let maxWeight = permutations.map(\.weight).max() else { return [] }
        var entries = permutations
        var table = [UInt32](repeating: 0, count: size)
        var taken = [Bool](repeating: false, count: size)
        var filled = 0
        var round = 1.0
        while filled < size {
            for i in entries.indices where filled < size {
                // A host with weight w/maxWeight of the heaviest takes a slot once every maxWeight/w rounds.
                if round * entries[i].weight < entries[i].target { continue }
                entries[i].target += maxWeight
                var slot = Self.slot(entries[i], size)
                while taken[slot] {
                    entries[i].next += 1
                    slot = Self.slot(entries[i], size)
                }
                table[slot] = entries[i].host
                taken[slot] = true
                entries[i].next += 1
                filled += 1
            }
            round += 1
        }
        return table
    }

    @inline(__always)
    static func slot(_ entry: Permutation, _ size: Int) -> Int {
        Int((entry.offset &+ entry.skip &* entry.next) % UInt64(size))
    }
}
