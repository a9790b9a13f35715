import FerryTestKit
import Foundation

/// Configs and measurements shared by the fault filter tests.
enum FaultSetup {
    static let type = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"

    /// `yaml` with `filter` (an `http_filters` list item, unindented) put first in the chain.
    static func insertingFilter(_ filter: String, into yaml: String) -> String {
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let index = lines.firstIndex(where: { $0.hasSuffix("http_filters:") }) else { return yaml }
        let pad = String(lines[index].prefix { $0 == " " })
        lines.insert(contentsOf: filter.split(separator: "\n").map { pad + $0 }, at: index + 1)
        return lines.joined(separator: "\n")
    }

    /// An `http_filters` item for the fault filter with `fields` (a flow mapping's inside).
    static func filter(_ fields: String, name: String = "envoy.filters.http.fault") -> String {
        "- name: \(name)\n  typed_config: {\"@type\": \(type)\(fields.isEmpty ? "" : ", " + fields)}"
    }

    /// A route item forwarding `match` to `backend` with `fault` (HTTPFault fields) as its
    /// per-route config, or a FilterConfig that disables the filter when `fault` is nil.
    static func route(_ match: String, fault: String?) -> String {
        let entry = fault.map { "{\"@type\": \(type), \($0)}" }
            ?? "{\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}"
        return "- match: \(match)\n  route: {cluster: backend}\n  typed_per_filter_config:\n    envoy.filters.http.fault: \(entry)\n"
    }

    /// The `layered_runtime` block with an admin layer (and `more` layer items before it).
    static func runtime(_ more: String = "") -> String {
        "layered_runtime:\n  layers:\n" + (more.isEmpty ? "" : more + "\n") + "  - {name: admin, admin_layer: {}}\n"
    }

    /// A proxy in front of one echo upstream `backend` with the fault filter (`fields`) first in
    /// the chain; `routes` defaults to everything to `backend`; `top` adds bootstrap fields.
    /// `transform` edits the whole bootstrap text last.
    static func with(fault fields: String, routes: String? = nil, top: String = "", hcmExtra: String = "",
                     concurrency: Int = 1, transform: (String) -> String = { $0 },
                     _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            let base = TestConfig.bootstrap(routes: routes ?? Support.forward("{prefix: \"/\"}", to: "backend"),
                                            clusters: [("backend", [ports[0]])], hcmExtra: hcmExtra)
            return transform(insertingFilter(filter(fields), into: base) + "\n" + top)
        }, concurrency: concurrency) { proxy, _ in
            try await body(proxy)
        }
    }

    /// What one request got: status, total time and body size, as curl measured them.
    struct Timed {
        var status: Int
        var seconds: Double
        var bytes: Int
    }

    static func timed(_ url: String, _ arguments: [String] = []) async throws -> Timed {
        let result = try await Curl.perform(arguments + ["-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}", url])
        let parts = result.body.split(separator: " ")
        guard parts.count == 3, let status = Int(parts[0]), let seconds = Double(parts[1]), let bytes = Int(parts[2]) else {
            throw ChildProcessError("unexpected curl output: \(result.body) \(result.stderr)")
        }
        return Timed(status: status, seconds: seconds, bytes: bytes)
    }

    /// Status codes of `count` GETs of `url` over one keep-alive connection.
    static func statuses(_ url: String, count: Int, _ arguments: [String] = []) async throws -> [Int] {
        try await Support.sequential(url, count: count, extra: arguments).map(\.status)
    }

    static func stat(_ proxy: ProxyHarness, _ name: String) async -> Int {
        await proxy.localStat("http.ingress_http.fault.\(name)") ?? -1
    }
}
