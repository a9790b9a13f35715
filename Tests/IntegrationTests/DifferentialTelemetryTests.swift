import FerryTestKit
import Foundation
import Testing

/// Access log lines and stats after the same requests through Envoy 1.40 and Ferry.
@Suite("Differential: access logs and stats as Envoy 1.40", .serialized)
struct DifferentialTelemetryTests {
    static let host = ["-H", "Host: diff.test"]

    @Test("the default file access log line has Envoy's shape and values once times and ids are replaced")
    func defaultAccessLog() async throws {
        try await ProxyPair.with { pair in
            for (_, arguments, path) in DifferentialTests.matrix {
                _ = try await pair.curl(Self.host + arguments, path: path)
            }
            let count = DifferentialTests.matrix.count
            let (envoy, ferry) = try await pair.accessLogs(count: count)
            #expect(envoy.count == count)
            #expect(ferry.count == count)
            for (e, f) in zip(envoy, ferry) {
                let normalized = AccessLogLine.normalize(f)
                #expect(!normalized.hasPrefix("unparsed"), "\(f)")
                #expect(normalized == AccessLogLine.normalize(e), "Ferry:\n\(f)\nEnvoy:\n\(e)")
            }
        }
    }

    // Envoy 1.40 logs both the HTTP/1.0 426 and the CL+TE 400 as `"- - HTTP/1.1"` with "-" for
    // the authority. Ferry logs `"GET /echo/x HTTP/1.0"` and "diff.test" for the first and
    // `"  HTTP/1.1"` (empty method and path, no "-") for the second.
    @Test("access log lines of refused requests match Envoy's")
    func refusedRequestAccessLog() async throws {
        try await ProxyPair.with { pair in
            for (_, request) in DifferentialTests.malformed { _ = try await pair.raw(request) }
            let count = DifferentialTests.malformed.count
            let (envoy, ferry) = try await pair.accessLogs(count: count)
            #expect(ferry.count == envoy.count)
            for (e, f) in zip(envoy, ferry) {
                #expect(AccessLogLine.normalize(f) == AccessLogLine.normalize(e), "Ferry:\n\(f)\nEnvoy:\n\(e)")
            }
        }
    }

    @Test("the access log DURATION of a route timeout covers the 0.5 s timeout, as in Envoy")
    func routeTimeoutDuration() async throws {
        try await ProxyPair.with { pair in
            _ = try await pair.curl(Self.host, path: "/slow")
            let (envoy, ferry) = try await pair.accessLogs(count: 1)
            let envoyDuration = try #require(envoy.first.flatMap(AccessLogLine.duration))
            let ferryDuration = try #require(ferry.first.flatMap(AccessLogLine.duration))
            // Envoy's own figure varies by a few ms around 500 (its timer and clock granularity);
            // Ferry's timer never fires early, so its figure only loses the sub-ms truncation.
            #expect(envoyDuration >= 450)
            #expect(ferryDuration >= 499, "Ferry: \(ferry.first ?? "")")
        }
    }

    /// One each of: success, no route, direct response, redirect, upstream 404, connect failure,
    /// route timeout.
    static let statsRequests = ["/echo/a", "/echo/b", "/nothing", "/direct", "/redirect", "/status/404", "/dead", "/slow"]

    static func compare(_ names: [String], _ pair: ProxyPair) async throws {
        for path in statsRequests { _ = try await pair.curl(host, path: path) }
        let (envoy, ferry) = try await pair.stats()
        for name in names {
            #expect(envoy[name] != nil, "Envoy has no \(name)")
            let message = "\(name): Ferry \(ferry[name] ?? "missing"), Envoy \(envoy[name] ?? "missing")"
            #expect(ferry[name] == envoy[name], Comment(rawValue: message))
        }
    }

    @Test("downstream and request-class counters match Envoy's after the same requests")
    func downstreamCounters() async throws {
        try await ProxyPair.with { pair in
            try await Self.compare([
                "http.diff.downstream_rq_total", "http.diff.downstream_rq_2xx", "http.diff.downstream_rq_3xx",
                "http.diff.downstream_rq_4xx", "http.diff.downstream_rq_5xx", "http.diff.no_route",
                "http.diff.downstream_cx_total", "listener.127.0.0.1_0.downstream_cx_total",
                "cluster.echo.upstream_rq_200", "cluster.echo.upstream_rq_404", "cluster.echo.upstream_rq_timeout",
                "cluster.dead.upstream_cx_connect_fail",
            ], pair)
        }
    }

    // Envoy 1.40 counts a redirect route under rq_direct_response and leaves rq_redirect at 0.
    @Test("direct-response and redirect counters match Envoy's")
    func localReplyCounters() async throws {
        try await ProxyPair.with { pair in
            try await Self.compare(["http.diff.rq_direct_response", "http.diff.rq_redirect"], pair)
        }
    }

    // Envoy 1.40 charges a connect failure as upstream_rq_503/5xx (and not upstream_rq_total,
    // which counts requests that got a connection) and a route timeout as upstream_rq_504/5xx;
    // both count as upstream_rq_completed. Ferry counts neither, and counts the failed connect
    // in upstream_rq_total.
    @Test("upstream counters for a connect failure and a route timeout match Envoy's")
    func upstreamFailureCounters() async throws {
        try await ProxyPair.with { pair in
            try await Self.compare([
                "cluster.dead.upstream_rq_total", "cluster.dead.upstream_rq_503", "cluster.dead.upstream_rq_5xx",
                "cluster.dead.upstream_rq_completed", "cluster.echo.upstream_rq_total", "cluster.echo.upstream_rq_504",
                "cluster.echo.upstream_rq_5xx", "cluster.echo.upstream_rq_completed",
            ], pair)
        }
    }
}
