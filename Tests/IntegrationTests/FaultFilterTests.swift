import FerryTestKit
import Foundation
import Testing

/// `envoy.filters.http.fault` through the real proxy and curl: delays, aborts, header-controlled
/// faults, shares of requests, `max_active_faults`, matching, and stats. Timing bounds are wide
/// (a loaded 2-core machine): a delay is checked from below, and only loosely from above.
@Suite("Fault filter")
struct FaultFilterTests {
    @Test("a fixed delay holds the request (its body waiting) for the delay, then it reaches the upstream")
    func fixedDelay() async throws {
        try await FaultSetup.with(fault: "delay: {fixed_delay: 0.6s, percentage: {numerator: 100}}") { (proxy: ProxyHarness) async throws in
            let get = try await FaultSetup.timed(proxy.url("/delayed"))
            #expect(get.status == 200)
            #expect(get.seconds >= 0.55 && get.seconds < 10, "\(get.seconds)")
            let post = try await Curl.fetch(["--data-binary", String(repeating: "b", count: 40_000), proxy.url("/posted")])
            #expect(post.status == 200)
            #expect(try EchoReply(post.body).bodyBytes == 40_000)
            #expect(await FaultSetup.stat(proxy, "delays_injected") == 2)
            #expect(await FaultSetup.stat(proxy, "aborts_injected") == 0)
            #expect(await FaultSetup.stat(proxy, "active_faults") == 0)
        }
    }

    @Test("abort at 100 % answers every request with Envoy's local reply; at 0 % none")
    func abortAllOrNothing() async throws {
        let routes = FaultSetup.route("{prefix: \"/all\"}", fault: "abort: {http_status: 503, percentage: {numerator: 100}}")
            + FaultSetup.route("{prefix: \"/none\"}", fault: "abort: {http_status: 503, percentage: {numerator: 0}}")
        try await FaultSetup.with(fault: "", routes: routes) { (proxy: ProxyHarness) async throws in
            let one = try await Curl.fetch(proxy.url("/all"))
            #expect(one.status == 503 && one.body == "fault filter abort")
            #expect(one.header("content-type") == "text/plain" && one.header("content-length") == "18")
            #expect(one.header("x-envoy-upstream-service-time") == nil)
            #expect(try await FaultSetup.statuses(proxy.url("/all"), count: 30) == Array(repeating: 503, count: 30))
            #expect(try await FaultSetup.statuses(proxy.url("/none"), count: 30) == Array(repeating: 200, count: 30))
            #expect(await FaultSetup.stat(proxy, "aborts_injected") == 31)
        }
    }

    @Test("a gRPC request is aborted with a trailers-only gRPC answer, as Envoy does over HTTP/1")
    func grpcAbort() async throws {
        let routes = FaultSetup.route("{prefix: \"/grpc\"}", fault: "abort: {grpc_status: 8, percentage: {numerator: 100}}")
            + FaultSetup.route("{prefix: \"/http\"}", fault: "abort: {http_status: 503, percentage: {numerator: 100}}")
        try await FaultSetup.with(fault: "", routes: routes) { (proxy: ProxyHarness) async throws in
            let grpc = ["-H", "content-type: application/grpc"]
            let status = try await Curl.fetch(grpc + [proxy.url("/grpc")])
            #expect(status.status == 200 && status.body.isEmpty)
            #expect(status.headers.map(\.0).prefix(3) == ["content-type", "grpc-status", "grpc-message"])
            #expect(status.header("content-type") == "application/grpc" && status.header("grpc-status") == "8")
            #expect(status.header("grpc-message") == "fault filter abort" && status.header("content-length") == "0")
            // An HTTP status for a gRPC client becomes Envoy's gRPC equivalent (503 → UNAVAILABLE).
            #expect(try await Curl.fetch(grpc + [proxy.url("/http")]).header("grpc-status") == "14")
            // Not a gRPC request: status 200 and the plain local reply.
            let plain = try await Curl.fetch(proxy.url("/grpc"))
            #expect(plain.status == 200 && plain.body == "fault filter abort")
        }
    }

    @Test("header-controlled faults follow the request's headers, only where the config asks for header control")
    func headerControlled() async throws {
        let routes = FaultSetup.route("{prefix: \"/fixed\"}", fault: "abort: {http_status: 503, percentage: {numerator: 0}}")
            + Support.forward("{prefix: \"/\"}", to: "backend")
        let fault = "delay: {header_delay: {}, percentage: {numerator: 100}}, abort: {header_abort: {}, percentage: {numerator: 100}}"
        try await FaultSetup.with(fault: fault, routes: routes) { (proxy: ProxyHarness) async throws in
            #expect(try await Curl.fetch(proxy.url("/plain")).status == 200)
            #expect(try await Curl.fetch(["-H", "x-envoy-fault-abort-request: 429", proxy.url("/a")]).status == 429)
            // Out of 200...599, or not a number: no abort.
            #expect(try await Curl.fetch(["-H", "x-envoy-fault-abort-request: 99", proxy.url("/a")]).status == 200)
            #expect(try await Curl.fetch(["-H", "x-envoy-fault-abort-request: abc", proxy.url("/a")]).status == 200)
            // The request may lower the share (here to 0 %), never raise it.
            let none = ["-H", "x-envoy-fault-abort-request: 429", "-H", "x-envoy-fault-abort-request-percentage: 0"]
            #expect(try await Curl.fetch(none + [proxy.url("/a")]).status == 200)
            let delayed = try await FaultSetup.timed(proxy.url("/d"), ["-H", "x-envoy-fault-delay-request: 500"])
            #expect(delayed.status == 200 && delayed.seconds >= 0.45, "\(delayed.seconds)")
            // The route's own config has no header_abort: the header does nothing there.
            #expect(try await Curl.fetch(["-H", "x-envoy-fault-abort-request: 429", proxy.url("/fixed")]).status == 200)
            #expect(await FaultSetup.stat(proxy, "aborts_injected") == 1)
            #expect(await FaultSetup.stat(proxy, "delays_injected") == 1)
        }
    }

    @Test("a 50 % abort hits about half of 400 requests (binomial bound of ±6 standard deviations)")
    func percentage() async throws {
        try await FaultSetup.with(fault: "abort: {http_status: 503, percentage: {numerator: 5000, denominator: TEN_THOUSAND}}") { (proxy: ProxyHarness) async throws in
            let statuses = try await FaultSetup.statuses(proxy.url("/p"), count: 400)
            #expect(statuses.count == 400)
            #expect(Set(statuses).isSubset(of: [200, 503]))
            let aborted = statuses.filter { $0 == 503 }.count
            // Binomial(400, 0.5): mean 200, standard deviation 10.
            #expect((140...260).contains(aborted), "\(aborted) of 400 aborted")
            #expect(await FaultSetup.stat(proxy, "aborts_injected") == aborted)
        }
    }

    @Test("at max_active_faults a further request goes through without its fault and counts faults_overflow")
    func maxActiveFaults() async throws {
        try await FaultSetup.with(fault: "delay: {fixed_delay: 3s, percentage: {numerator: 100}}, max_active_faults: 1") { (proxy: ProxyHarness) async throws in
            let first = Task { try await FaultSetup.timed(proxy.url("/first")) }
            let active = await Support.eventually { await FaultSetup.stat(proxy, "active_faults") == 1 }
            #expect(active)
            let second = try await FaultSetup.timed(proxy.url("/second"))
            #expect(second.status == 200 && second.seconds < 2.5, "\(second.seconds)")
            #expect(await FaultSetup.stat(proxy, "faults_overflow") == 1)
            let delayed = try await first.value
            #expect(delayed.status == 200 && delayed.seconds >= 2.9, "\(delayed.seconds)")
            #expect(await FaultSetup.stat(proxy, "delays_injected") == 1)
            #expect(await Support.eventually { await FaultSetup.stat(proxy, "active_faults") == 0 })
        }
    }

    @Test("faults apply only to matching requests: headers, downstream nodes, upstream cluster")
    func matching() async throws {
        let routes = FaultSetup.route("{prefix: \"/other\"}", fault: """
            abort: {http_status: 503, percentage: {numerator: 100}}, upstream_cluster: elsewhere
            """)
            + FaultSetup.route("{prefix: \"/mine\"}", fault: "abort: {http_status: 503, percentage: {numerator: 100}}, upstream_cluster: backend")
            + Support.forward("{prefix: \"/\"}", to: "backend")
        let fault = """
            abort: {http_status: 418, percentage: {numerator: 100}}, headers: [{name: x-chaos, exact_match: "on"}], \
            downstream_nodes: [node-a]
            """
        try await FaultSetup.with(fault: fault, routes: routes) { (proxy: ProxyHarness) async throws in
            let node: [String] = ["-H", "x-envoy-downstream-service-node: node-a"]
            #expect(try await Curl.fetch(node + ["-H", "x-chaos: on", proxy.url("/x")]).status == 418)
            #expect(try await Curl.fetch(node + ["-H", "x-chaos: off", proxy.url("/x")]).status == 200)
            #expect(try await Curl.fetch(["-H", "x-chaos: on", proxy.url("/x")]).status == 200)
            #expect(try await Curl.fetch(["-H", "x-chaos: on", "-H", "x-envoy-downstream-service-node: node-b", proxy.url("/x")]).status == 200)
            #expect(try await Curl.fetch(proxy.url("/other")).status == 200)
            #expect(try await Curl.fetch(proxy.url("/mine")).status == 503)
        }
    }

    @Test("x-envoy-downstream-service-cluster selects fault.http.<cluster>.* runtime keys and per-cluster stats")
    func downstreamCluster() async throws {
        let fault = "abort: {http_status: 503, percentage: {numerator: 0}}"
        try await FaultSetup.with(fault: fault, top: FaultSetup.runtime()) { (proxy: ProxyHarness) async throws in
            let modified = try await Admin.post(proxy, "/runtime_modify?fault.http.svc.abort.abort_percent=100&fault.http.svc.abort.http_status=429")
            #expect(modified.status == 200)
            let cluster = ["-H", "x-envoy-downstream-service-cluster: svc"]
            #expect(try await FaultSetup.statuses(proxy.url("/c"), count: 5, cluster) == Array(repeating: 429, count: 5))
            #expect(try await Curl.fetch(["-H", "x-envoy-downstream-service-cluster: other", proxy.url("/c")]).status == 200)
            #expect(try await Curl.fetch(proxy.url("/c")).status == 200)
            #expect(await FaultSetup.stat(proxy, "svc.aborts_injected") == 5)
            #expect(await FaultSetup.stat(proxy, "aborts_injected") == 5)
            let prometheus = try await Admin.get(proxy, "/stats/prometheus?naming=envoy")
            #expect(prometheus.body.contains(
                "envoy_http_fault_aborts_injected{envoy_fault_downstream_cluster=\"svc\",envoy_http_conn_manager_prefix=\"ingress_http\"} 5"))
        }
    }

    @Test("a delay then an abort: flags DI,FI and detail fault_filter_abort in the access log")
    func accessLog() async throws {
        try await AccessLogFile.with { log in
            let fault = "delay: {fixed_delay: 0.2s, percentage: {numerator: 100}}, abort: {http_status: 502, percentage: {numerator: 100}}"
            try await FaultSetup.with(fault: fault, hcmExtra: log.yaml()) { (proxy: ProxyHarness) async throws in
                let response = try await FaultSetup.timed(proxy.url("/both"))
                #expect(response.status == 502 && response.seconds >= 0.15)
                #expect(await log.waitForLines(1) == ["502 DI,FI fault_filter_abort"])
            }
        }
    }
}
