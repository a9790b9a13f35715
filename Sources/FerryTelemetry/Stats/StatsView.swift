/// Merged stat values with their keys, ready to render in Envoy's admin formats.
public struct StatsView: Sendable {
    public var counterKeys: [StatKey]
    public var gaugeKeys: [StatKey]
    public var histogramKeys: [StatKey]
    public var values: StatsSnapshot
    /// Counter values before `/reset_counters` was subtracted; "used" means ever non-zero.
    public var rawCounters: [UInt64]

    /// Envoy's `supported_quantiles`.
    public static let quantiles: [Double] = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]

    public struct Options: Sendable {
        public var usedOnly = false
        public var filter: (@Sendable (String) -> Bool)?
        public var includeCounters = true
        public var includeGauges = true
        public var includeHistograms = true
        public init() {}
    }

    public func counter(named name: String) -> UInt64? {
        counterKeys.firstIndex { $0.name == name }.map { values.counters[$0] }
    }

    public func gauge(named name: String) -> Int64? {
        gaugeKeys.firstIndex { $0.name == name }.map { values.gauges[$0] }
    }

    public func histogramCount(named name: String) -> UInt64? {
        histogramKeys.firstIndex { $0.name == name }.map { values.histogramCounts($0).reduce(0, +) }
    }

    func include(_ name: String, used: Bool, _ options: Options) -> Bool {
        if options.usedOnly && !used { return false }
        if let filter = options.filter, !filter(name) { return false }
        return true
    }

    /// Scalar stats (counters and gauges) as (name, value), sorted by name.
    func scalars(_ options: Options) -> [(String, String)] {
        var rows: [(String, String)] = []
        if options.includeCounters {
            for (i, key) in counterKeys.enumerated() where include(key.name, used: rawCounters[i] > 0, options) {
                rows.append((key.name, String(values.counters[i])))
            }
        }
        if options.includeGauges {
            for (i, key) in gaugeKeys.enumerated() where include(key.name, used: values.gauges[i] != 0, options) {
                rows.append((key.name, String(values.gauges[i])))
            }
        }
        return rows.sorted { $0.0 < $1.0 }
    }

    func histogramIndices(_ options: Options) -> [Int] {
        guard options.includeHistograms else { return [] }
        return histogramKeys.indices.filter { i in
            include(histogramKeys[i].name, used: values.histogramCounts(i).contains { $0 > 0 }, options)
        }.sorted { histogramKeys[$0].name < histogramKeys[$1].name }
    }

    static func formatNumber(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        let rounded = (v * 1000).rounded() / 1000
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }

    /// `GET /stats`: `name: value` lines, then histograms as `P0(interval,cumulative) ...`.
    public func renderText(_ options: Options = Options()) -> String {
        var out = ""
        for (name, value) in scalars(options) { out += "\(name): \(value)\n" }
        for i in histogramIndices(options) {
            let counts = values.histogramCounts(i)
            out += "\(histogramKeys[i].name): "
            if counts.allSatisfy({ $0 == 0 }) {
                out += "No recorded values\n"
                continue
            }
            // Ferry has no flush interval, so interval and cumulative quantiles are the same.
            out += Self.quantiles.map { q -> String in
                let v = Self.formatNumber(HistogramLayout.quantile(q / 100, counts: counts) ?? 0)
                return "P\(Self.formatNumber(q))(\(v),\(v))"
            }.joined(separator: " ")
            out += "\n"
        }
        return out
    }

    /// `GET /stats?format=json`.
    public func renderJSON(_ options: Options = Options()) -> String {
        var items: [String] = scalars(options).map { "{\"name\":\(JSON.quote($0.0)),\"value\":\($0.1)}" }
        let hist = histogramIndices(options)
        if options.includeHistograms {
            let computed = hist.map { i -> String in
                let counts = values.histogramCounts(i)
                let empty = counts.allSatisfy { $0 == 0 }
                let vals = Self.quantiles.map { q -> String in
                    guard !empty, let v = HistogramLayout.quantile(q / 100, counts: counts) else {
                        return "{\"interval\":null,\"cumulative\":null}"
                    }
                    let s = Self.formatNumber(v)
                    return "{\"interval\":\(s),\"cumulative\":\(s)}"
                }
                return "{\"name\":\(JSON.quote(histogramKeys[i].name)),\"values\":[\(vals.joined(separator: ","))]}"
            }
            let supported = Self.quantiles.map(Self.formatNumber).joined(separator: ",")
            items.append("{\"histograms\":{\"supported_quantiles\":[\(supported)],\"computed_quantiles\":[\(computed.joined(separator: ","))]}}")
        }
        return "{\"stats\":[\(items.joined(separator: ","))]}"
    }
}

/// Minimal JSON string quoting for admin output.
public enum JSON {
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
