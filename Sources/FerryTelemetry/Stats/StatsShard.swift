/// One event loop's stat values. Only that loop touches it, so updates are plain adds with no
/// atomics or locks; renderers ask each loop for a `snapshot()` and merge them.
public final class StatsShard {
    public private(set) var counters: [UInt64]
    public private(set) var gauges: [Int64]
    /// Histogram i owns `buckets[i * HistogramLayout.bucketCount ..< (i + 1) * bucketCount]`.
    public private(set) var buckets: [UInt64]
    public private(set) var sums: [Double]

    public init() {
        counters = []
        gauges = []
        buckets = []
        sums = []
    }

    /// Makes room for stats registered since the last call. Call on the owning loop before
    /// using ids from a newly compiled configuration.
    public func grow(to store: StatsStore) {
        let sizes = store.sizes
        if counters.count < sizes.counters { counters.append(contentsOf: repeatElement(0, count: sizes.counters - counters.count)) }
        if gauges.count < sizes.gauges { gauges.append(contentsOf: repeatElement(0, count: sizes.gauges - gauges.count)) }
        if sums.count < sizes.histograms {
            let missing = sizes.histograms - sums.count
            sums.append(contentsOf: repeatElement(0, count: missing))
            buckets.append(contentsOf: repeatElement(0, count: missing * HistogramLayout.bucketCount))
        }
    }

    @inline(__always)
    public func inc(_ id: CounterID, by amount: UInt64 = 1) {
        counters[id.index] &+= amount
    }

    /// Adds to a loop-local gauge (e.g. active connections); the rendered value is the sum over loops.
    @inline(__always)
    public func add(_ id: GaugeID, _ delta: Int64) {
        gauges[id.index] &+= delta
    }

    @inline(__always)
    public func record(_ id: HistogramID, milliseconds value: Double) {
        buckets[id.index * HistogramLayout.bucketCount + HistogramLayout.bucket(for: value)] &+= 1
        sums[id.index] += value
    }

    public func snapshot() -> StatsSnapshot {
        StatsSnapshot(counters: counters, gauges: gauges, buckets: buckets, sums: sums)
    }
}

/// A copy of stat values, safe to move between threads and to sum.
public struct StatsSnapshot: Sendable {
    public var counters: [UInt64]
    public var gauges: [Int64]
    public var buckets: [UInt64]
    public var sums: [Double]

    public init(counters: [UInt64], gauges: [Int64], buckets: [UInt64], sums: [Double]) {
        self.counters = counters
        self.gauges = gauges
        self.buckets = buckets
        self.sums = sums
    }

    public init(counters: Int, gauges: Int, histograms: Int) {
        self.counters = Array(repeating: 0, count: counters)
        self.gauges = Array(repeating: 0, count: gauges)
        self.buckets = Array(repeating: 0, count: histograms * HistogramLayout.bucketCount)
        self.sums = Array(repeating: 0, count: histograms)
    }

    public mutating func add(_ other: StatsSnapshot) {
        for i in 0..<min(counters.count, other.counters.count) { counters[i] &+= other.counters[i] }
        for i in 0..<min(gauges.count, other.gauges.count) { gauges[i] &+= other.gauges[i] }
        for i in 0..<min(buckets.count, other.buckets.count) { buckets[i] &+= other.buckets[i] }
        for i in 0..<min(sums.count, other.sums.count) { sums[i] += other.sums[i] }
    }

    public func histogramCounts(_ index: Int) -> ArraySlice<UInt64> {
        let n = HistogramLayout.bucketCount
        return buckets[(index * n)..<((index + 1) * n)]
    }
}
