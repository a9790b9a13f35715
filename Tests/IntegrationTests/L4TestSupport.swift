import FerryTestKit
import Foundation

/// Bootstrap YAML for L4 tests, in flow style: listeners with filter chains of tcp_proxy (or
/// other) filters, and STATIC loopback clusters.
enum L4Config {
    static let tcpType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
    static let inspector = """
        listener_filters: [{name: envoy.filters.listener.tls_inspector, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}}]
        """

    /// A filter chain list item: a tcp_proxy with `fields` (flow mapping body) and `match` (flow mapping).
    static func chain(_ fields: String, match: String? = nil) -> String {
        var text = "- "
        if let match { text += "filter_chain_match: \(match)\n  " }
        return text + "filters: [{name: envoy.filters.network.tcp_proxy, typed_config: {\"@type\": \(tcpType), \(fields)}}]\n"
    }

    /// tcp_proxy fields sending to `cluster` with stats under `tcp.<prefix>`.
    static func proxy(_ cluster: String, prefix: String? = nil, _ extra: String = "") -> String {
        "stat_prefix: \(prefix ?? cluster), cluster: \(cluster)" + (extra.isEmpty ? "" : ", \(extra)")
    }

    /// A listener list item named `name` on `port` with `fields` (block lines) and `chains`.
    static func listener(_ name: String, port: Int = 0, fields: String = "", chains: String) -> String {
        var text = "- name: \(name)\n  address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}\n"
        for line in fields.split(separator: "\n") { text += "  \(line)\n" }
        text += "  filter_chains:\n"
        for line in chains.split(separator: "\n") { text += "  \(line)\n" }
        return text
    }

    /// A STATIC cluster list item with one endpoint per port, and `extra` fields (flow, comma-led).
    static func cluster(_ name: String, _ ports: [Int], _ extra: String = "") -> String {
        let endpoints = ports.map { "{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \($0)}}}}" }
        return "- {name: \(name), connect_timeout: 1s\(extra), load_assignment: {cluster_name: \(name), endpoints: [{lb_endpoints: [\(endpoints.joined(separator: ", "))]}]}}\n"
    }

    static func bootstrap(listeners: String, clusters: String) -> String {
        var text = "admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}\nstatic_resources:\n  listeners:\n"
        for line in listeners.split(separator: "\n") { text += "  \(line)\n" }
        text += "  clusters:\n"
        for line in clusters.split(separator: "\n") { text += "  \(line)\n" }
        return text
    }

    /// A tcp_proxy `access_log` field (flow) writing `format` to `file`.
    static func accessLog(_ file: AccessLogFile, _ format: String) -> String {
        "access_log: [{name: envoy.access_loggers.file, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog, path: \(file.path), log_format: {text_format_source: {inline_string: \"\(format)\\n\"}}}}]"
    }
}

extension ProxyHarness {
    /// A proxy from `yaml`, stopped after `body` whatever happens.
    static func with<T>(yaml: String, concurrency: Int = 1, _ body: (ProxyHarness) async throws -> T) async throws -> T {
        let proxy = try await ProxyHarness.start(yaml: yaml, concurrency: concurrency)
        return try await withCleanup { try await body(proxy) } cleanup: { await proxy.stop() }
    }
}

/// A count shared between a test and the tasks it starts.
final class SharedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add(_ n: Int) { lock.withLock { value += n } }
    var current: Int { lock.withLock { value } }

    /// Waits until the count stops growing for 500 ms (a writer held back), at most 20 s.
    func waitUntilStalled() async throws {
        var last = -1
        for _ in 0..<40 where current != last {
            last = current
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Sends `chunk` `times` times on `client` from a task; the count says how much left.
    static func sending(_ chunk: [UInt8], times: Int, on client: RawConnection) -> (SharedCount, Task<Void, any Error>) {
        let sent = SharedCount()
        let writer = Task {
            for _ in 0..<times {
                try await client.send(chunk)
                sent.add(chunk.count)
            }
        }
        return (sent, writer)
    }
}
