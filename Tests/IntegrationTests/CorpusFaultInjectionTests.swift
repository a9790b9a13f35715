import FerryTestKit
import Foundation
import Testing

/// `fault-injection_envoy.yaml` from Envoy's examples, run unchanged but for the listener port
/// and address, the `backend` host (loopback, an echo upstream on its port) and the disk
/// layer's `symlink_root` (a temporary tree). As the example's scripts do, faults are switched
/// on by writing `fault/http/abort/abort_percent` or `fault/http/delay/fixed_delay_percent`
/// under the layer's `envoy` subdirectory and swapping the symlink.
@Suite("Envoy example corpus: fault injection")
struct CorpusFaultInjectionTests {
    @Test("fault-injection_envoy.yaml: no fault at first; abort_percent 100 aborts with 503; fixed_delay_percent 100 delays 3 s")
    func faultInjectionExample() async throws {
        let tree = try FaultRuntimeTests.RuntimeTree.make()
        defer { tree.remove() }
        let original = try ConformanceCorpusTests.load("fault-injection_envoy.yaml")
        #expect(original.contains("symlink_root: /srv/runtime/current") && original.contains("port_value: 9211"))
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            original.replacingOccurrences(of: "address: 0.0.0.0", with: "address: 127.0.0.1")
                .replacingOccurrences(of: "port_value: 9211", with: "port_value: 0")
                .replacingOccurrences(of: "port_value: 80\n", with: "port_value: \(ports[0])\n")
                .replacingOccurrences(of: "symlink_root: /srv/runtime/current", with: "symlink_root: \(tree.current)")
        }, hostOverrides: ["backend": ["127.0.0.1"]]) { proxy, _ in
            #expect(await Support.eventually { await proxy.localStat("cluster.local_service.membership_healthy") == 1 })
            // No runtime tree yet: the example's 0 % abort and delay.
            let plain = try await FaultSetup.timed(proxy.url("/"))
            #expect(plain.status == 200 && plain.seconds < 2.5, "\(plain.seconds)")

            try tree.publish("v1", ["fault.http.abort.abort_percent": "100"])
            #expect(try await Support.eventually { try await Curl.fetch(proxy.url("/")).status == 503 })
            let aborted = try await Curl.fetch(proxy.url("/"))
            #expect(aborted.status == 503 && aborted.body == "fault filter abort")

            try tree.publish("v2", ["fault.http.abort.abort_percent": "0", "fault.http.delay.fixed_delay_percent": "100"])
            // Once the swap is seen, aborts stop (and that request is delayed too).
            #expect(try await Support.eventually(timeout: .seconds(15)) { try await Curl.fetch(proxy.url("/")).status == 200 })
            let delayed = try await FaultSetup.timed(proxy.url("/"))
            #expect(delayed.status == 200 && delayed.seconds >= 2.9 && delayed.seconds < 15, "\(delayed.seconds)")
            #expect(await proxy.localStat("http.ingress_http.fault.aborts_injected") ?? 0 >= 2)
        }
    }
}
