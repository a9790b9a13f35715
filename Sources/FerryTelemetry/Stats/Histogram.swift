/// Bucket layout shared by every latency histogram. Values are milliseconds, as Envoy's
/// `*_time` stats. The bounds include Envoy's default Prometheus buckets exactly (so
/// `/stats/prometheus` matches Envoy's buckets) and a log-spaced grid between them for
/// quantiles (`/stats` P50/P99), accurate to about 12% of the value.
public enum HistogramLayout {
    /// Envoy's default `histogram_bucket_settings` bounds, in ms.
    public static let envoyBuckets: [Double] = [
        0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1_800_000, 3_600_000,
    ]

    /// Upper bounds of the fine buckets; a final implicit bucket holds everything larger.
    public static let bounds: [Double] = {
        var set = Set(envoyBuckets)
        var v = 0.001
        while v < 3_600_000 {
            set.insert((v * 1000).rounded() / 1000)
            v *= 1.25
        }
        return set.sorted()
    }()

    /// Fine buckets plus the overflow bucket.
    public static let bucketCount = bounds.count + 1

    /// Index of the fine bucket for `value` (binary search; the first bound >= value).
    @inline(__always)
    public static func bucket(for value: Double) -> Int {
        var low = 0
        var high = bounds.count
        while low < high {
            let mid = (low + high) >> 1
            if bounds[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The q-quantile (0...1) of a bucket array, interpolating inside the bucket; nil when empty.
    public static func quantile(_ q: Double, counts: ArraySlice<UInt64>) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var seen: UInt64 = 0
        for (offset, count) in counts.enumerated() where count > 0 {
            let next = seen + count
            if Double(next) >= rank {
                let lower = offset == 0 ? 0 : bounds[offset - 1]
                let upper = offset < bounds.count ? bounds[offset] : bounds[bounds.count - 1] * 2
                let fraction = count == 0 ? 0 : max(0, min(1, (rank - Double(seen)) / Double(count)))
                return lower + (upper - lower) * fraction
            }
            seen = next
        }
        return bounds.last
    }
}
