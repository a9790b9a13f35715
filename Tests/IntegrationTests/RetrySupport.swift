import FerryTestKit
import Foundation

/// A proxy in front of `FlakyUpstream`s for the retry and timeout tests: cluster "flaky" holds
/// the upstreams in order, and the access log records code, flags, details and attempts.
enum RetryRig {
    static let logFormat = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%"

    /// Starts the proxy with `routes` (route list items) and runs `body`; `virtualHostExtra`
    /// adds virtual host fields, `clusterExtra` fields of cluster "flaky", `extraClusters`
    /// more cluster list items.
    static func run(
        _ upstreams: [FlakyUpstream], routes: String, hcmExtra: String = "", virtualHostExtra: String = "",
        clusterExtra: String = "", extraClusters: String = "",
        _ body: (ProxyHarness, AccessLogFile) async throws -> Void
    ) async throws {
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(yaml: { _ in
                let host = TestConfig.virtualHost("all", domains: ["*"], routes: routes, extra: virtualHostExtra)
                let flaky = upstreams.isEmpty ? "" :
                    TestConfig.cluster("flaky", endpoints: upstreams.map { .init(port: $0.port) }, extra: clusterExtra)
                return TestConfig.bootstrap(
                    routeConfig: "virtual_hosts:\n" + host, hcmExtra: log.yaml(format: logFormat) + hcmExtra,
                    extraClusters: flaky + extraClusters)
            }) { proxy, _ in
                try await body(proxy, log)
            }
        }
    }

    /// A route list item for `prefix` to `cluster` with route action `fields`.
    static func route(_ prefix: String = "/", cluster: String = "flaky", _ fields: String = "") -> String {
        "- match: {prefix: \"\(prefix)\"}\n  route: {cluster: \(cluster)\(fields.isEmpty ? "" : ", " + fields)}\n"
    }

    /// A route list item with `retry_policy: {policy}` and more route action `fields`.
    static func retry(_ policy: String, prefix: String = "/", cluster: String = "flaky", fields: String = "") -> String {
        route(prefix, cluster: cluster, "retry_policy: {\(policy)}" + (fields.isEmpty ? "" : ", " + fields))
    }

    /// `previous_hosts` as a retry_host_predicate list.
    static let previousHosts =
        "retry_host_predicate: [{name: envoy.retry_host_predicates.previous_hosts, typed_config: "
        + "{\"@type\": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}}]"

    /// HCM fields that make loopback clients internal (Envoy 1.40: internal_address_config),
    /// so they may send x-envoy-* control headers.
    static let loopbackInternal = """
        use_remote_address: true
        internal_address_config: {cidr_ranges: [{address_prefix: 127.0.0.0, prefix_len: 8}]}

        """

    /// A POST of `bytes` bytes of body (content-length, no Expect: 100-continue).
    static func post(_ url: String, bytes: Int, headers: [String: String] = [:]) async throws -> Curl.Result {
        try await TempFile.with(bytes: bytes) { path in
            var arguments = ["-X", "POST", "-H", "Expect:", "--data-binary", "@\(path)"]
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
            return try await Curl.perform(arguments + [url])
        }
    }

    /// The access log line of the only request, split into code, flags (as a set), details and attempts.
    static func entry(_ log: AccessLogFile) async -> (code: String, flags: Set<String>, details: String, attempts: String)? {
        guard let line = await log.waitForLines(1).first else { return nil }
        let parts = line.split(separator: " ").map(String.init)
        guard parts.count == 4 else { return nil }
        return (parts[0], Set(parts[1].split(separator: ",").map(String.init)), parts[2], parts[3])
    }
}
