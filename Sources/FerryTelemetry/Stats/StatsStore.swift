import Synchronization

public struct CounterID: Sendable, Hashable {
    public let index: Int
}

public struct GaugeID: Sendable, Hashable {
    public let index: Int
}

public struct HistogramID: Sendable, Hashable {
    public let index: Int
}

/// The registry of every stat the process has created. Registration (config load, first use
/// of a new status code) takes a lock; values live elsewhere: counters and histograms in
/// per-event-loop `StatsShard`s, process-wide gauges here. Stats are never removed, so ids
/// stay valid across config generations and counters survive reloads, as in Envoy.
public final class StatsStore: Sendable {
    public enum Kind: Sendable { case counter, gauge, histogram }

    public struct Descriptor: Sendable {
        public var key: StatKey
        public var kind: Kind
    }

    struct Registry {
        var counters: [StatKey] = []
        var gauges: [StatKey] = []
        var histograms: [StatKey] = []
        var counterIndex: [String: Int] = [:]
        var gaugeIndex: [String: Int] = [:]
        var histogramIndex: [String: Int] = [:]
        /// Values of gauges set from outside the event loops (server.*, membership_*).
        var absoluteGauges: [Int: Int64] = [:]
        /// Counter increments made outside the event loops (reloads, DNS refreshes).
        var globalCounters: [Int: UInt64] = [:]
        /// Subtracted from counters when rendering, so `/reset_counters` needs no loop hop.
        var counterBaseline: [UInt64] = []
    }

    let registry = Mutex(Registry())

    public init() {}

    public func counter(_ key: StatKey) -> CounterID {
        registry.withLock { r in
            if let i = r.counterIndex[key.name] { return CounterID(index: i) }
            r.counters.append(key)
            r.counterIndex[key.name] = r.counters.count - 1
            return CounterID(index: r.counters.count - 1)
        }
    }

    public func gauge(_ key: StatKey) -> GaugeID {
        registry.withLock { r in
            if let i = r.gaugeIndex[key.name] { return GaugeID(index: i) }
            r.gauges.append(key)
            r.gaugeIndex[key.name] = r.gauges.count - 1
            return GaugeID(index: r.gauges.count - 1)
        }
    }

    public func histogram(_ key: StatKey) -> HistogramID {
        registry.withLock { r in
            if let i = r.histogramIndex[key.name] { return HistogramID(index: i) }
            r.histograms.append(key)
            r.histogramIndex[key.name] = r.histograms.count - 1
            return HistogramID(index: r.histograms.count - 1)
        }
    }

    /// Sets a process-wide gauge (written outside the event loops).
    public func set(_ gauge: GaugeID, _ value: Int64) {
        registry.withLock { $0.absoluteGauges[gauge.index] = value }
    }

    /// Adds to a counter from outside the event loops (rare events: reloads, DNS updates).
    public func add(_ counter: CounterID, _ amount: UInt64 = 1) {
        registry.withLock { $0.globalCounters[counter.index, default: 0] &+= amount }
    }

    public var sizes: (counters: Int, gauges: Int, histograms: Int) {
        registry.withLock { ($0.counters.count, $0.gauges.count, $0.histograms.count) }
    }

    /// Zeroes every counter as seen by renderers (`POST /reset_counters`).
    /// `raw` is `StatsView.rawCounters` of a fresh view.
    public func resetCounters(toRaw raw: [UInt64]) {
        registry.withLock { r in
            r.counterBaseline = raw
        }
    }

    /// Merges loop snapshots with the process-wide gauges into what renderers print.
    public func view(merging shards: [StatsSnapshot]) -> StatsView {
        let (counters, gauges, histograms, absolute, baseline, global) = registry.withLock {
            ($0.counters, $0.gauges, $0.histograms, $0.absoluteGauges, $0.counterBaseline, $0.globalCounters)
        }
        var total = StatsSnapshot(counters: counters.count, gauges: gauges.count, histograms: histograms.count)
        for shard in shards { total.add(shard) }
        for (i, v) in global where i < total.counters.count { total.counters[i] &+= v }
        for (i, v) in absolute where i < total.gauges.count { total.gauges[i] += v }
        let raw = total.counters
        for i in 0..<min(baseline.count, total.counters.count) {
            total.counters[i] = total.counters[i] &- min(baseline[i], total.counters[i])
        }
        return StatsView(counterKeys: counters, gaugeKeys: gauges, histogramKeys: histograms, values: total, rawCounters: raw)
    }
}
