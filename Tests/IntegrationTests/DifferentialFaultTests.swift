import FerryTestKit
import Foundation
import Testing

/// The fault filter through the real Envoy 1.40 and through Ferry on the same config and echo
/// upstream: aborted and delayed responses (status, headers, body, what the upstream saw), the
/// access log's flags and details, and the `fault.*` stats.
@Suite("Differential: fault injection as Envoy 1.40", .serialized)
struct DifferentialFaultTests {
    /// One listener `main` whose routes give the fault filter per-route configs, in front of
    /// the echo upstream; the access log shows path, status, flags and details.
    static func yaml(echo: Int, log: AccessLogFile) -> String {
        func route(_ prefix: String, _ fault: String?) -> String {
            fault.map { FaultSetup.route("{prefix: \"\(prefix)\"}", fault: $0) } ?? Support.forward("{prefix: \"\(prefix)\"}", to: "backend")
        }
        let routes = route("/abort", "abort: {http_status: 503, percentage: {numerator: 100}}")
            + route("/delay", "delay: {fixed_delay: 0.3s, percentage: {numerator: 100}}")
            + route("/grpc", "abort: {grpc_status: 14, percentage: {numerator: 100}}")
            + route("/header", "abort: {header_abort: {}, percentage: {numerator: 100}}")
            + route("/", nil)
        let format = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%"
        let base = TestConfig.bootstrap(routes: routes, clusters: [("backend", [echo])], hcmExtra: log.yaml(format: format))
        return FaultSetup.insertingFilter(FaultSetup.filter(""), into: base)
    }

    static let host = ["-H", "Host: diff.test"]

    /// Requests (name, curl arguments, path) whose answers must be the same from both.
    static let requests: [(String, [String], String)] = [
        ("abort", [], "/abort"),
        ("abort, HEAD", ["-I"], "/abort/head"),
        ("abort of a gRPC request", ["-H", "content-type: application/grpc"], "/abort/grpc"),
        ("gRPC status for a gRPC request", ["-H", "content-type: application/grpc+proto"], "/grpc"),
        ("gRPC status for a plain request", [], "/grpc/plain"),
        ("header abort", ["-H", "x-envoy-fault-abort-request: 429"], "/header"),
        ("header abort out of range", ["-H", "x-envoy-fault-abort-request: 600"], "/header/600"),
        ("delay", ["-d", "body"], "/delay"),
        ("no fault", [], "/plain"),
    ]

    @Test("aborts and delays answer as Envoy's: status, headers, body, upstream view, access log and fault stats")
    func sameAnswers() async throws {
        let envoyLog = AccessLogFile(), ferryLog = AccessLogFile()
        defer {
            envoyLog.remove()
            ferryLog.remove()
        }
        let echo = try await EchoServer.start(name: "echo")
        try await withCleanup {
            try await EnvoyProcess.with(yaml: Self.yaml(echo: echo.port, log: envoyLog)) { envoy in
                let ferry = try await ProxyHarness.start(yaml: Self.yaml(echo: echo.port, log: ferryLog))
                try await withCleanup {
                    for (name, arguments, path) in Self.requests {
                        let started = ContinuousClock.now
                        let fromEnvoy = try await Curl.fetch(Self.host + arguments + ["http://127.0.0.1:\(envoy.port(of: "main"))\(path)"])
                        let envoyTime = ContinuousClock.now - started
                        let fromFerry = try await Curl.fetch(Self.host + arguments + ["http://127.0.0.1:\(ferry.port(of: "main"))\(path)"])
                        let ferryTime = ContinuousClock.now - started - envoyTime
                        #expect(fromEnvoy.status != 0, "\(name): Envoy did not answer")
                        let envoyView = Observed(fromEnvoy), ferryView = Observed(fromFerry)
                        #expect(ferryView == envoyView, Observed.explain(name, ferry: ferryView, envoy: envoyView))
                        if path == "/delay" {
                            #expect(envoyTime >= .milliseconds(280) && ferryTime >= .milliseconds(280), "\(envoyTime) \(ferryTime)")
                        }
                    }
                    // Each proxy writes a line as its stream ends; Envoy flushes file logs about once a second.
                    let count = Self.requests.count
                    let envoyLines = await envoyLog.waitForLines(count, timeout: .seconds(15)).sorted()
                    let ferryLines = await ferryLog.waitForLines(count).sorted()
                    #expect(ferryLines == envoyLines)
                    #expect(envoyLines.contains("/delay 200 DI via_upstream"), "\(envoyLines)")
                    let envoyStats = Admin.stats(try await Curl.fetch("http://127.0.0.1:\(envoy.adminPort)/stats").body)
                    let ferryStats = Admin.stats(try await Curl.fetch("http://127.0.0.1:\(ferry.adminPort)/stats").body)
                    let names = envoyStats.keys.filter { $0.hasPrefix("http.ingress_http.fault.") }.sorted()
                    #expect(names.count == 5, "\(names)")
                    for stat in names { #expect(ferryStats[stat] == envoyStats[stat], "\(stat)") }
                    #expect(envoyStats["http.ingress_http.fault.aborts_injected"] == "6")
                } cleanup: {
                    await ferry.stop()
                }
            }
        } cleanup: {
            await echo.stop()
        }
    }
}
