/// Envoy's `RING_HASH` (ketama-style consistent hashing), built as `ring_hash_lb.cc` builds it so a
/// key lands on the same address under Ferry and Envoy:
///
/// - weights are normalised to sum to 1; the ring gets `scale × normalisedWeight` entries per host,
///   where `scale = min(ceil(minWeight × minimumRingSize) / minWeight, maximumRingSize)`, so the
///   lightest host gets a whole number of entries and the ring is at least `minimumRingSize` long;
/// - fractional shares are settled with running sums across hosts (host order matters only there);
/// - entry `i` of a host hashes `"<address>_<i>"` with xxHash64 (seed 0), the default `XX_HASH`;
/// - a key goes to the first entry whose hash is ≥ the key's hash, wrapping to the first entry.
///
/// Immutable once built and cheap to share (copy-on-write arrays): build one per host set.
/// `MURMUR_HASH_2` and `use_hostname_for_hashing` are not supported; the caller chooses the strings.
///
/// Zero weights: Envoy rejects `load_balancing_weight: 0`; here such hosts get no ring entries.
public struct RingHashBalancer: Sendable {
    public static let defaultMinimumRingSize = 1024
    public static let defaultMaximumRingSize = 8 * 1024 * 1024

    /// Entry hashes in ascending order; `hosts[i]` is the host index that owns `hashes[i]`.
    private let hashes: [UInt64]
    private let hosts: [UInt32]

    /// Ring entries of each host, in input order (Envoy's `min_`/`max_hashes_per_host` gauges).
    public let entriesPerHost: [Int]

    /// The number of entries on the ring (Envoy's `ring_hash_lb.size` gauge).
    public var ringSize: Int { hashes.count }

    /// `addresses[i]` is host `i`'s hash key (Envoy uses the address, e.g. `10.0.0.1:8080`), with
    /// weight `weights[i]`. Requires `1 ≤ minimumRingSize ≤ maximumRingSize`, which config
    /// validation checks first (Envoy: "minimum_ring_size > maximum_ring_size").
    public init(
        addresses: [String],
        weights: [UInt32],
        minimumRingSize: Int = defaultMinimumRingSize,
        maximumRingSize: Int = defaultMaximumRingSize
    ) {
        precondition(addresses.count == weights.count)
        precondition(minimumRingSize >= 1 && minimumRingSize <= maximumRingSize)
        let total = Double(weights.reduce(UInt64(0)) { $0 + UInt64($1) })
        var perHost = [Int](repeating: 0, count: weights.count)
        guard let lightest = weights.filter({ $0 > 0 }).min() else {
            hashes = []
            hosts = []
            entriesPerHost = perHost
            return
        }
        let minWeight = Double(lightest) / total
        let scale = min((minWeight * Double(minimumRingSize)).rounded(.up) / minWeight, Double(maximumRingSize))

        var entries: [(hash: UInt64, host: UInt32)] = []
        entries.reserveCapacity(Int(scale.rounded(.up)))
        var current = 0.0
        var target = 0.0
        for (host, address) in addresses.enumerated() where weights[host] > 0 {
            // Same operation order as Envoy (normalise, then scale) so the entry counts match.
            target += scale * (Double(weights[host]) / total)
            var key = Array(address.utf8) + [UInt8(ascii: "_")]
            let prefix = key.count
            var index = 0
            while current < target {
                key.removeSubrange(prefix...)
                Self.appendDecimal(index, to: &key)
                entries.append((XXHash64.hash(key), UInt32(host)))
                index += 1
                current += 1
            }
            perHost[host] = index
        }
        entries.sort { ($0.hash, $0.host) < ($1.hash, $1.host) }
        hashes = entries.map(\.hash)
        hosts = entries.map(\.host)
        entriesPerHost = perHost
    }

    /// The host index for a request hash, or nil for an empty ring. `attempt` > 0 (a retry whose
    /// host predicate rejected the earlier choice) steps that many entries further round the ring,
    /// as Envoy does; it does not guarantee a different host.
    public func pick(hash: UInt64, attempt: Int = 0) -> Int? {
        guard !hashes.isEmpty else { return nil }
        var low = 0
        var high = hashes.count
        while low < high {
            let mid = (low + high) / 2
            if hashes[mid] < hash { low = mid + 1 } else { high = mid }
        }
        let index = (low == hashes.count ? 0 : low) &+ attempt
        return Int(hosts[index % hashes.count])
    }

    private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        let start = bytes.count
        var rest = value
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }
}
