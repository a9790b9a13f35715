import FerryTestKit
import Foundation
import Testing

/// Envoy's locality-load-balancing example (`../shared/conformance/envoy-examples`) run
/// unchanged but for addresses: four backends in three priorities, health-checked on their
/// `health_check_config` port. As the example describes, all traffic goes to the priority-0
/// backend while it is healthy; when its health checks fail, priority 1 (two localities of
/// equal weight) takes the traffic, split between them; when it is back, it gets everything again.
@Suite("Envoy example: locality load balancing")
struct LocalityExampleTests {
    static let names = ["backend-local-1", "backend-local-2", "backend-remote-1", "backend-remote-2"]

    @Test("priority 0 takes everything; when its checks fail, priority 1's two localities share; it comes back")
    func failover() async throws {
        let text = try ConformanceCorpusTests.load("locality-load-balancing_envoy.yaml")
        #expect(text.contains("port_value: 8080") && text.contains("interval: 2s"))
        // The four backends listen on one port number, as in the example's compose file, on four
        // loopback addresses (127.0.0.1 ... 127.0.0.4).
        var servers: [EchoServer] = [try await EchoServer.start(name: Self.names[0], host: "127.0.0.1")]
        let port = servers[0].port
        var overrides: [String: [String]] = [:]
        for (i, name) in Self.names.enumerated() { overrides[name] = ["127.0.0.\(i + 1)"] }
        try await withCleanup {
            for i in 1..<4 { servers.append(try await EchoServer.start(name: Self.names[i], host: "127.0.0.\(i + 1)", port: port)) }
            try await ProxyHarness.with(yaml: { _ in
                text.replacingOccurrences(of: "address: 0.0.0.0", with: "address: 127.0.0.1")
                    .replacingOccurrences(of: "port_value: 3000", with: "port_value: 0")
                    .replacingOccurrences(of: "port_value: 8001", with: "port_value: 0")
                    .replacingOccurrences(of: "port_value: 8080", with: "port_value: \(port)")
            }, hostOverrides: overrides) { proxy, _ in
                let ready = try await Support.eventually(timeout: .seconds(10)) {
                    try await proxy.stat("cluster.backend.membership_healthy") == 4
                }
                #expect(ready, "the four backends never passed their health checks")
                let first = try await Support.sequential(proxy.url("/"), count: 20).map(\.value)
                #expect(Set(first) == ["backend-local-1"], "\(first)")

                await servers[0].stop()  // its checks fail from now on (interval 2s, unhealthy_threshold 1)
                let failed = try await Support.eventually(timeout: .seconds(10)) {
                    try await proxy.stat("cluster.backend.membership_healthy") == 3
                }
                #expect(failed, "backend-local-1 was never marked unhealthy")
                let second = try await Support.sequential(proxy.url("/"), count: 40).map(\.value)
                #expect(Set(second) == ["backend-local-2", "backend-remote-1"], "\(second)")
                let local2 = second.filter { $0 == "backend-local-2" }.count
                #expect((10...30).contains(local2), "priority 1 split \(local2)/40")

                servers[0] = try await EchoServer.start(name: Self.names[0], host: "127.0.0.1", port: port)
                let back = try await Support.eventually(timeout: .seconds(10)) {
                    try await proxy.stat("cluster.backend.membership_healthy") == 4
                }
                #expect(back, "backend-local-1 never came back")
                let third = try await Support.sequential(proxy.url("/"), count: 20).map(\.value)
                #expect(Set(third) == ["backend-local-1"], "\(third)")
            }
        } cleanup: {
            for s in servers { await s.stop() }
        }
    }
}
