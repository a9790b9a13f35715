import FerryTestKit
import Foundation
import Testing

/// One proxy under a gRPC test: Ferry, or the real Envoy 1.40 on the same config text.
struct GRPCProxy {
    let name: String
    let port: Int
    let adminPort: Int

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// A gRPC call of framed `messages` (or raw `body`) with curl.
    func call(_ path: String, messages: [[UInt8]] = [[1, 2, 3]], body: [UInt8]? = nil, contentType: String = "application/grpc",
              headers: [String: String] = [:]) async throws -> GRPCClient.Response {
        let bytes = body ?? messages.flatMap { GRPCFrame(payload: $0).bytes }
        return try await GRPCClient.call(url(path), body: bytes, contentType: contentType, headers: headers)
    }

    /// Counters whose names contain `filter`, from `/stats`.
    func stats(_ filter: String) async throws -> [String: String] {
        let body = try await Curl.fetch("http://127.0.0.1:\(adminPort)/stats?filter=\(filter)").body
        return Admin.stats(body).filter { !$0.value.contains("P0(") && !$0.value.contains("No recorded values") }
    }
}

enum GRPCSupport {
    /// Starts a `GRPCUpstream` with `script` and Ferry (and, with `envoy`, the real Envoy) on
    /// `yaml(upstreamPort)`, runs `body` with the proxies (Envoy first), and stops everything.
    /// `envoyYAML`, when given, is Envoy's config instead (Envoy reads an HTTP/1.1 upstream's
    /// trailers only with `enable_trailers`, which Ferry does not need).
    static func with(_ script: @escaping @Sendable (GRPCCall) -> GRPCReply, envoy: Bool = false, yaml: (Int) -> String,
                     envoyYAML: ((Int) -> String)? = nil,
                     _ body: ([GRPCProxy], GRPCUpstream) async throws -> Void) async throws {
        try await GRPCUpstream.with(script) { upstream in
            let text = yaml(upstream.port)
            try await ProxyHarness.with(yaml: { _ in text }) { ferry, _ in
                let ferryProxy = GRPCProxy(name: "ferry", port: ferry.port, adminPort: ferry.adminPort)
                guard envoy else { return try await body([ferryProxy], upstream) }
                try await EnvoyProcess.with(yaml: envoyYAML?(upstream.port) ?? text) { envoy in
                    let envoyProxy = GRPCProxy(name: "envoy", port: envoy.port(of: "main"), adminPort: envoy.adminPort)
                    try await body([envoyProxy, ferryProxy], upstream)
                }
            }
        }
    }

    static let logFormat = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %GRPC_STATUS%"

    /// `with` for Envoy and Ferry, each writing `logFormat` lines to its own access log:
    /// `yaml(port, accessLogYAML)` builds both configs; `body` gets the logs (Envoy's first).
    static func withAccessLogs(_ script: @escaping @Sendable (GRPCCall) -> GRPCReply, yaml: @escaping (Int, String) -> String,
                               _ body: ([GRPCProxy], [AccessLogFile]) async throws -> Void) async throws {
        try await AccessLogFile.with { envoyLog in
            try await AccessLogFile.with { ferryLog in
                try await with(script, envoy: true, yaml: { yaml($0, ferryLog.yaml(format: logFormat)) },
                               envoyYAML: { yaml($0, envoyLog.yaml(format: logFormat)) }) { proxies, _ in
                    try await body(proxies, [envoyLog, ferryLog])
                }
            }
        }
    }

    /// One catch-all virtual host forwarding to cluster `grpc` on `port`, `routes` first.
    /// `clusters` adds more clusters; `clusterExtra` are fields of every cluster.
    static func bootstrap(port: Int, routes: String = "", httpFilters: String = "", hcmExtra: String = "",
                          clusters: [(String, [Int])] = [], clusterExtra: String = "") -> String {
        TestConfig.bootstrap(routes: routes + "- match: {prefix: \"/\"}\n  route: {cluster: grpc}\n",
                             clusters: [("grpc", [port])] + clusters, hcmExtra: hcmExtra, clusterExtra: clusterExtra,
                             httpFilters: httpFilters)
    }

    /// Cluster fields that make Envoy pass an HTTP/1.1 upstream's chunked trailers on.
    static let envoyTrailers = """
        typed_extension_protocol_options:
          envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
            "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
            explicit_http_config: {http_protocol_options: {enable_trailers: true}}
        """

    /// A script that delays answers on paths containing "slow" and otherwise answers OK.
    static let slowOrOK: @Sendable (GRPCCall) -> GRPCReply = { call in
        .trailersOnly(status: 0, delay: call.path.contains("slow") ? 1.5 : 0)
    }
}
