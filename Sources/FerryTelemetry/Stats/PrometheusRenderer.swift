/// `GET /stats/prometheus` in the Prometheus text exposition format (0.0.4).
///
/// Two namings: `.promtoolClean` (the default) gives every family a `# HELP` line and every
/// counter the `_total` suffix, so the output passes `promtool check metrics`;
/// response-code counters become `<family>_code_total` so they do not collide with
/// `upstream_rq_total`; a gauge ending in `_total` loses that suffix. `.envoy` prints Envoy's exact family names (no HELP, counters without
/// `_total`), for dashboards built against Envoy (`?naming=envoy`).
public struct PrometheusRenderer: Sendable {
    public enum Naming: Sendable { case promtoolClean, envoy }

    public var naming: Naming
    public init(naming: Naming = .promtoolClean) { self.naming = naming }

    struct Series {
        var labels: [StatKey.Label]
        var value: String
    }

    struct Family {
        var name: String
        var type: String
        var help: String
        var series: [Series] = []
        var histograms: [(labels: [StatKey.Label], counts: ArraySlice<UInt64>, sum: Double)] = []
    }

    public func render(_ view: StatsView, options: StatsView.Options = StatsView.Options()) -> String {
        var families: [String: Family] = [:]
        let counterFamilies = Set(view.counterKeys.map(\.family))
        func family(_ name: String, _ type: String, _ stat: String) -> String {
            if families[name] == nil { families[name] = Family(name: name, type: type, help: StatHelp.text(for: stat)) }
            return name
        }
        if options.includeCounters {
            for (i, key) in view.counterKeys.enumerated() where view.include(key.name, used: view.rawCounters[i] > 0, options) {
                let name = family(counterFamilyName(key, existing: counterFamilies), "counter", key.name)
                families[name]!.series.append(Series(labels: key.labels, value: String(view.values.counters[i])))
            }
        }
        if options.includeGauges {
            for (i, key) in view.gaugeKeys.enumerated() where view.include(key.name, used: view.values.gauges[i] != 0, options) {
                let name = family(gaugeFamilyName(key), "gauge", key.name)
                families[name]!.series.append(Series(labels: key.labels, value: String(view.values.gauges[i])))
            }
        }
        for i in view.histogramIndices(options) {
            let key = view.histogramKeys[i]
            let name = family(key.family, "histogram", key.name)
            families[name]!.histograms.append((key.labels, view.values.histogramCounts(i), view.values.sums[i]))
        }
        var out = ""
        for name in families.keys.sorted() {
            let f = families[name]!
            if naming == .promtoolClean { out += "# HELP \(name) \(f.help)\n" }
            out += "# TYPE \(name) \(f.type)\n"
            for s in f.series.sorted(by: { Self.labelText($0.labels) < Self.labelText($1.labels) }) {
                out += "\(name)\(Self.labelText(s.labels)) \(s.value)\n"
            }
            for h in f.histograms.sorted(by: { Self.labelText($0.labels) < Self.labelText($1.labels) }) {
                out += renderHistogram(name, h.labels, h.counts, h.sum)
            }
        }
        return out
    }

    func counterFamilyName(_ key: StatKey, existing: Set<String>) -> String {
        guard naming == .promtoolClean, !key.family.hasSuffix("_total") else { return key.family }
        if key.labels.contains(where: { $0.name == "envoy_response_code" }) { return key.family + "_code_total" }
        let candidate = key.family + "_total"
        return existing.contains(candidate) ? key.family + "_all_total" : candidate
    }

    /// promtool refuses `_total` on anything but a counter: a gauge such as Envoy's
    /// `membership_total` loses the suffix (`envoy_cluster_membership`) in the default naming.
    func gaugeFamilyName(_ key: StatKey) -> String {
        guard naming == .promtoolClean, key.family.hasSuffix("_total") else { return key.family }
        return String(key.family.dropLast("_total".count))
    }

    func renderHistogram(_ name: String, _ labels: [StatKey.Label], _ counts: ArraySlice<UInt64>, _ sum: Double) -> String {
        var out = ""
        var cumulative: UInt64 = 0
        var fine = counts.startIndex
        for bound in HistogramLayout.envoyBuckets {
            while fine < counts.endIndex, fine - counts.startIndex < HistogramLayout.bounds.count,
                  HistogramLayout.bounds[fine - counts.startIndex] <= bound {
                cumulative += counts[fine]
                fine += 1
            }
            out += "\(name)_bucket\(Self.labelText(labels + [StatKey.Label("le", StatsView.formatNumber(bound))])) \(cumulative)\n"
        }
        let total = counts.reduce(0, +)
        out += "\(name)_bucket\(Self.labelText(labels + [StatKey.Label("le", "+Inf")])) \(total)\n"
        out += "\(name)_sum\(Self.labelText(labels)) \(StatsView.formatNumber(sum))\n"
        out += "\(name)_count\(Self.labelText(labels)) \(total)\n"
        return out
    }

    static func labelText(_ labels: [StatKey.Label]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.name)=\"\(escape($0.value))\"" }.joined(separator: ",") + "}"
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for ch in value {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}

/// One-line descriptions for `# HELP`, taken from the meaning of Envoy's stat of the same name.
enum StatHelp {
    static let table: [String: String] = [
        "downstream_cx_total": "Total connections",
        "downstream_cx_active": "Active connections",
        "downstream_cx_destroy": "Connections destroyed",
        "downstream_cx_destroy_remote": "Connections destroyed because of a remote close",
        "downstream_cx_destroy_local": "Connections destroyed because of a local close",
        "downstream_cx_http1_total": "Total HTTP/1.1 connections",
        "downstream_cx_http1_active": "Active HTTP/1.1 connections",
        "downstream_cx_protocol_error": "Connections closed because of a protocol error",
        "downstream_cx_idle_timeout": "Connections closed by the idle timeout",
        "downstream_cx_rx_bytes_total": "Bytes received from downstream",
        "downstream_cx_tx_bytes_total": "Bytes sent to downstream",
        "downstream_cx_overflow": "Connections refused by the listener connection limit",
        "downstream_rq_total": "Total requests",
        "downstream_rq_active": "Active requests",
        "downstream_rq_completed": "Requests that received a response",
        "downstream_rq_http1_total": "Total HTTP/1.1 requests",
        "downstream_rq_xx": "Responses by status class",
        "downstream_rq_time": "Request time from first byte received to last byte sent (ms)",
        "downstream_rq_timeout": "Requests closed by the request timeout",
        "downstream_rq_idle_timeout": "Requests closed by the stream idle timeout",
        "downstream_rq_rx_reset": "Requests reset by the client",
        "downstream_rq_tx_reset": "Requests reset by Ferry",
        "downstream_rq_too_large": "Requests rejected for a body larger than the buffer limit",
        "rq_total": "Requests routed",
        "rq_direct_response": "Requests answered by a direct response route",
        "rq_redirect": "Requests answered by a redirect route",
        "no_route": "Requests with no matching route",
        "no_cluster": "Requests whose cluster does not exist",
        "upstream_cx_total": "Total upstream connections",
        "upstream_cx_active": "Active upstream connections",
        "upstream_cx_connect_fail": "Upstream connection failures",
        "upstream_cx_connect_timeout": "Upstream connection timeouts",
        "upstream_cx_http1_total": "Total upstream HTTP/1.1 connections",
        "upstream_cx_idle_timeout": "Upstream connections closed by the idle timeout",
        "upstream_cx_max_requests": "Upstream connections closed at max_requests_per_connection",
        "upstream_cx_destroy": "Upstream connections destroyed",
        "upstream_cx_destroy_remote": "Upstream connections closed by the upstream",
        "upstream_cx_destroy_local": "Upstream connections closed by Ferry",
        "upstream_cx_rx_bytes_total": "Bytes received from upstream",
        "upstream_cx_tx_bytes_total": "Bytes sent to upstream",
        "upstream_rq_total": "Total upstream requests",
        "upstream_rq_active": "Active upstream requests",
        "upstream_rq_completed": "Upstream requests that completed",
        "upstream_rq_xx": "Upstream responses by status class",
        "upstream_rq": "Upstream responses by status code",
        "upstream_rq_time": "Upstream request time (ms)",
        "upstream_rq_timeout": "Upstream requests that hit the route timeout",
        "upstream_rq_pending_total": "Upstream requests that waited for a connection",
        "upstream_rq_pending_active": "Upstream requests waiting for a connection",
        "upstream_rq_pending_overflow": "Upstream requests refused by max_pending_requests or max_requests",
        "upstream_cx_overflow": "Times max_connections kept a new upstream connection from opening",
        "upstream_rq_retry_overflow": "Retries refused by max_retries or the retry budget",
        "cx_open": "1 while the circuit breaker max_connections is reached",
        "cx_pool_open": "1 while the circuit breaker max_connection_pools is reached",
        "rq_open": "1 while the circuit breaker max_requests is reached",
        "rq_pending_open": "1 while the circuit breaker max_pending_requests is reached",
        "rq_retry_open": "1 while the circuit breaker max_retries is reached",
        "remaining_cx": "Connections left before max_connections",
        "remaining_pending": "Pending requests left before max_pending_requests",
        "remaining_rq": "Requests left before max_requests",
        "remaining_retries": "Retries left before max_retries (0 with a retry budget)",
        "upstream_rq_rx_reset": "Upstream requests reset by the upstream",
        "upstream_rq_tx_reset": "Upstream requests reset by Ferry",
        "membership_total": "Endpoints in the cluster",
        "membership_healthy": "Healthy endpoints in the cluster",
        "membership_change": "Changes of cluster membership",
        "attempt": "Active health checks started",
        "success": "Active health checks that passed",
        "failure": "Active health checks that failed (any reason)",
        "network_failure": "Active health checks that failed to connect, were reset or timed out",
        "passive_failure": "Health check failures reported by passive checking",
        "verify_cluster": "Health checks that verified the upstream's cluster name",
        "healthy": "Hosts passing active health checks",
        "degraded": "Hosts degraded by active health checks",
        "ejections_active": "Hosts ejected by outlier detection now",
        "ejections_enforced_total": "Ejections carried out by outlier detection",
        "ejections_overflow": "Ejections refused by max_ejection_percent",
        "ejections_total": "Ejections detected by consecutive 5xx or success rate (deprecated in Envoy)",
        "live": "1 when the server is live, 0 while draining",
        "uptime": "Seconds since the server started",
        "concurrency": "Number of worker event loops",
        "total_connections": "Open connections across listeners",
        "config_generation": "Successful configuration loads",
        "config_reload_failed": "Configuration reloads that failed validation",
    ]

    static func text(for name: String) -> String {
        let stat = String(name.split(separator: ".").last ?? Substring(name))
        if let text = table[stat] { return text }
        if let (base, _) = StatKey.splitResponseCode(stat), let text = table[base] { return text + " (by code)" }
        if let (base, _) = StatKey.splitResponseClass(stat), let text = table[base + "_xx"] { return text }
        return "Ferry stat \(name.split(separator: ".").last.map(String.init) ?? name) (Envoy-compatible name)"
    }
}
