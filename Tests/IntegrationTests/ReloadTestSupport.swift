import FerryTestKit
import Foundation
import NIOConcurrencyHelpers
import Testing

/// Bootstrap YAML for the reload, drain and health-check tests, assembled from small pieces so
/// a test can add or drop one listener, route or cluster between reloads.
enum ReloadConfig {
    /// A whole bootstrap: admin on port 0, the given listeners and clusters.
    static func bootstrap(listeners: [String], clusters: [String], admin: Bool = true) -> String {
        var yaml = admin ? "admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: 0}}\n" : ""
        yaml += "static_resources:\n  listeners:\n" + listeners.joined()
        yaml += "  clusters:\n" + clusters.joined()
        return yaml
    }

    /// One listener (its name is also its stat prefix) whose only virtual host holds `routes`
    /// (each a one-line flow mapping, see `route`/`direct`); `filters` go before the router.
    static func listener(_ name: String, port: Int = 0, routes: [String], filters: [String] = [],
                         direction: String? = nil) -> String {
        var yaml = """
          - name: \(name)
            address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}

        """
        if let direction { yaml += "    traffic_direction: \(direction)\n" }
        yaml += """
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": \(TestConfig.hcmType)
                  stat_prefix: \(name)
                  route_config:
                    name: \(name)_routes
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:

        """
        for r in routes { yaml += "              - \(r)\n" }
        yaml += "          http_filters:\n"
        for f in filters { yaml += "          - \(f)\n" }
        yaml += "          - {name: envoy.filters.http.router, typed_config: {\"@type\": \(TestConfig.routerType)}}\n"
        return yaml
    }

    /// A STATIC cluster on loopback `ports`.
    static func cluster(_ name: String, _ ports: [Int]) -> String {
        var yaml = """
          - name: \(name)
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: \(name)
              endpoints:
              - lb_endpoints:

        """
        for port in ports {
            yaml += "        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}}\n"
        }
        return yaml
    }

    /// Requests whose path starts with `prefix` go to `cluster`.
    static func route(_ prefix: String, _ cluster: String) -> String {
        "{match: {prefix: \"\(prefix)\"}, route: {cluster: \(cluster)}}"
    }

    /// `path` answers 200 with `body` from the proxy itself.
    static func direct(_ path: String, _ body: String) -> String {
        "{match: {path: \"\(path)\"}, direct_response: {status: 200, body: {inline_string: \"\(body)\"}}}"
    }

    /// `envoy.filters.http.health_check` answering `path` itself (pass_through_mode false).
    static func healthCheck(path: String) -> String {
        let type = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
        return """
        {name: envoy.filters.http.health_check, typed_config: {"@type": \(type), pass_through_mode: false, \
        headers: [{name: ":path", string_match: {exact: "\(path)"}}]}}
        """
    }
}

/// One keep-alive connection that sends requests one at a time and keeps count, to show that a
/// connection survives (or does not survive) a reload or drain.
final class KeepAliveProbe: Sendable {
    let connection: RawConnection
    private let sent = NIOLockedValueBox(0)

    init(_ connection: RawConnection) { self.connection = connection }

    static func open(port: Int) async throws -> KeepAliveProbe {
        KeepAliveProbe(try await RawConnection.connect(port: port))
    }

    /// Sends `GET path` and waits for its response; nil when the connection closed first.
    func get(_ path: String, timeout: Duration = .seconds(10)) async throws -> WireResponse? {
        let n = sent.withLockedValue { count -> Int in
            count += 1
            return count
        }
        try await connection.send("GET \(path) HTTP/1.1\r\nhost: probe\r\n\r\n")
        let all = await connection.responses(n, timeout: timeout)
        return all.count >= n ? all[n - 1] : nil
    }

    var isClosed: Bool { connection.isClosed }

    func close() async { await connection.close() }
}

/// Which echo upstream answered (nil for a reply that is not an echo reply).
func echoName(_ response: WireResponse?) -> String? {
    response.flatMap { try? EchoReply($0.bodyText).name }
}

/// Whether a new TCP connection to a port is refused (or otherwise fails to open).
enum Connect {
    static func refused(port: Int) async -> Bool {
        guard let connection = try? await RawConnection.connect(port: port) else { return true }
        await connection.close()
        return false
    }
}

extension Admin {
    /// A gauge or counter from the admin API on `adminPort` (nil when absent); works for the
    /// `ferry` binary and Envoy as well as the in-process harness.
    static func stat(_ name: String, adminPort: Int) async throws -> Int? {
        let escaped = NSRegularExpression.escapedPattern(for: name)
        let filter = "^\(escaped)$".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
        let body = try await ProxyHarness.admin("GET", "/stats?filter=\(filter)", port: adminPort).body
        return stats(body)[name].flatMap { Int($0) }
    }
}

/// Echo upstreams for tests that run the `ferry` binary (the in-process harness starts its own).
enum EchoServers {
    /// Starts one echo server per name, runs `body`, and stops them whether `body` returns or throws.
    static func with<T>(_ names: [String], _ body: ([EchoServer]) async throws -> T) async throws -> T {
        var echoes: [EchoServer] = []
        return try await withCleanup {
            for name in names { echoes.append(try await EchoServer.start(name: name)) }
            return try await body(echoes)
        } cleanup: {
            for e in echoes { await e.stop() }
        }
    }
}

/// Admin calls and messages for tests that run the `ferry` binary.
enum FerryServe {
    /// `POST path` to the admin API on `adminPort`.
    static func post(_ path: String, adminPort: Int) async throws -> RawHTTPResponse {
        try await ProxyHarness.admin("POST", path, port: adminPort)
    }

    /// How the child ended, for messages: "exit 0", "signal 11".
    static func ending(_ child: ChildProcess) -> String {
        if child.isRunning { return "still running" }
        return child.exitedNormally ? "exit \(child.process.terminationStatus)" : "signal \(child.process.terminationStatus)"
    }
}
