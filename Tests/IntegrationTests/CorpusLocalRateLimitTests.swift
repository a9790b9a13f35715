import FerryTestKit
import Foundation
import Testing

/// `local_ratelimit_envoy.yaml` from Envoy's examples, unchanged but for loopback addresses and
/// free ports: both listeners allow two requests per 5 s and answer the rest with 429 and
/// `x-local-rate-limit: true`, as the example's README shows for Envoy.
@Suite("Envoy example corpus: local rate limit")
struct CorpusLocalRateLimitTests {
    @Test("local_ratelimit_envoy.yaml: the service and the stats listener each pass two requests, then answer 429")
    func example() async throws {
        let admin = try FreePort.pick()  // the admin socket does not share its port (no SO_REUSEPORT)
        let stats = try FreePort.reservedForListener()
        let front = try FreePort.reservedForListener()
        let text = try ConformanceCorpusTests.load("local_ratelimit_envoy.yaml")
        #expect(text.contains("port_value: 80\n") && text.contains("port_value: 9901"))
        try await ProxyHarness.with(
            upstreams: ["service"],
            yaml: { ports in
                text.replacingOccurrences(of: "address: 0.0.0.0", with: "address: 127.0.0.1")
                    .replacingOccurrences(of: "port_value: 9901", with: "port_value: \(admin)")
                    .replacingOccurrences(of: "port_value: 9902", with: "port_value: \(stats)")
                    .replacingOccurrences(of: "port_value: 10000", with: "port_value: \(front)")
                    .replacingOccurrences(of: "port_value: 80\n", with: "port_value: \(ports[0])\n")
            }, hostOverrides: ["service": ["127.0.0.1"]]
        ) { proxy, _ in
            let resolved = try await Support.eventually { try await proxy.stat("cluster.service.membership_healthy") == 1 }
            #expect(resolved, "service never resolved")
            for port in [front, stats] {
                var statuses: [Int] = []
                var limitHeader: String?
                var body = ""
                for _ in 0..<3 {
                    let r = try await Curl.fetch("http://127.0.0.1:\(port)/stats/prometheus")
                    statuses.append(r.status)
                    if r.status == 429 {
                        limitHeader = r.header("x-local-rate-limit")
                        body = r.body
                    }
                }
                #expect(statuses == [200, 200, 429], "port \(port)")
                #expect(limitHeader == "true")
                #expect(body == "local_rate_limited")
            }
            #expect(try await proxy.stat("http_local_rate_limiter.http_local_rate_limit.rate_limited") == 2)
        }
    }
}
