import FerryTestKit
import Foundation
import Testing

/// The fault filter's per-route settings, its response rate limit, and runtime control: the
/// admin layer (`/runtime_modify`) and a disk layer whose symlink is swapped.
@Suite("Fault filter: routes, pacing and runtime")
struct FaultRuntimeTests {
    @Test("a route's HTTPFault replaces the listener's; a FilterConfig with disabled: true turns the filter off")
    func perRoute() async throws {
        let routes = FaultSetup.route("{prefix: \"/override\"}", fault: "abort: {http_status: 418, percentage: {numerator: 100}}")
            + FaultSetup.route("{prefix: \"/off\"}", fault: nil)
            + FaultSetup.route("{prefix: \"/delay-only\"}", fault: "delay: {fixed_delay: 0.01s, percentage: {numerator: 100}}")
            + Support.forward("{prefix: \"/\"}", to: "backend")
        try await FaultSetup.with(fault: "abort: {http_status: 503, percentage: {numerator: 100}}", routes: routes) { (proxy: ProxyHarness) async throws in
            #expect(try await Curl.fetch(proxy.url("/elsewhere")).status == 503)
            #expect(try await Curl.fetch(proxy.url("/override")).status == 418)
            #expect(try await Curl.fetch(proxy.url("/off")).status == 200)
            // Replaced, not merged: the listener's abort does not apply to this route.
            #expect(try await Curl.fetch(proxy.url("/delay-only")).status == 200)
        }
    }

    @Test("response_rate_limit paces a 64 KiB body at 32 KiB/s (about 2 s), whole and in order")
    func responseRateLimit() async throws {
        let fault = "response_rate_limit: {fixed_limit: {limit_kbps: 32}, percentage: {numerator: 100}}"
        try await FaultSetup.with(fault: fault) { (proxy: ProxyHarness) async throws in
            let paced = try await FaultSetup.timed(proxy.url("/bytes/65536"))
            #expect(paced.status == 200 && paced.bytes == 65536)
            // 50 ms worth at once, then 32 KiB/s: 1.95 s; the lower bound leaves room for rounding.
            #expect(paced.seconds >= 1.5 && paced.seconds < 15, "\(paced.seconds)")
            let small = try await FaultSetup.timed(proxy.url("/bytes/1000"))
            #expect(small.status == 200 && small.bytes == 1000 && small.seconds < 1.0, "\(small.seconds)")
            let streamed = try await Curl.fetch(proxy.url("/stream/40"))
            #expect(streamed.status == 200 && streamed.body.split(separator: "\n").count == 40)
            #expect(await FaultSetup.stat(proxy, "response_rl_injected") == 3)
            #expect(await Support.eventually { await FaultSetup.stat(proxy, "active_faults") == 0 })
        }
    }

    @Test("while the filter holds more than the listener's buffer limit, the proxy stops reading the upstream")
    func pacingBackpressure() async throws {
        let fault = "response_rate_limit: {header_limit: {}, percentage: {numerator: 100}}"
        let limit = { (yaml: String) in
            yaml.replacingOccurrences(of: "- name: main\n", with: "- name: main\n    per_connection_buffer_limit_bytes: 32768\n")
        }
        try await FaultSetup.with(fault: fault, transform: limit) { (proxy: ProxyHarness) async throws in
            // 16 MiB paced at 64 KiB/s: the client gets about 100 KiB in 1.5 s; without
            // backpressure the proxy would have read all 16 MiB from the upstream by then.
            let download = Task {
                try await FaultSetup.timed(proxy.url("/bytes/16777216"), ["-H", "x-envoy-fault-throughput-response: 64", "--max-time", "3"])
            }
            try await Task.sleep(for: .milliseconds(1500))
            let read = await proxy.localStat("cluster.backend.upstream_cx_rx_bytes_total") ?? -1
            #expect(read > 0 && read < 4 * 1_048_576, "\(read) bytes read from the upstream")
            let partial = try await download.value
            #expect(partial.bytes > 32_768 && partial.bytes < 1_048_576, "\(partial.bytes)")
            // Without the header there is no limit to apply, and the next response flows at once.
            let unpaced = try await FaultSetup.timed(proxy.url("/bytes/1048576"))
            #expect(unpaced.status == 200 && unpaced.bytes == 1_048_576 && unpaced.seconds < 2, "\(unpaced.seconds)")
        }
    }

    @Test("/runtime_modify turns the abort on, sets its status, and turns it off again")
    func adminLayer() async throws {
        try await FaultSetup.with(fault: "abort: {http_status: 503, percentage: {numerator: 0}}", top: FaultSetup.runtime()) { (proxy: ProxyHarness) async throws in
            #expect(try await Curl.fetch(proxy.url("/r")).status == 200)
            // A plain number is a percentage, and above 100 means always (Envoy's reading).
            #expect(try await Admin.post(proxy, "/runtime_modify?fault.http.abort.abort_percent=1000").status == 200)
            #expect(try await FaultSetup.statuses(proxy.url("/r"), count: 10) == Array(repeating: 503, count: 10))
            #expect(try await Admin.post(proxy, "/runtime_modify?fault.http.abort.http_status=451").status == 200)
            #expect(try await Curl.fetch(proxy.url("/r")).status == 451)
            // Removing the key restores the config's 0 %.
            #expect(try await Admin.post(proxy, "/runtime_modify?fault.http.abort.abort_percent=").status == 200)
            #expect(try await FaultSetup.statuses(proxy.url("/r"), count: 10) == Array(repeating: 200, count: 10))
        }
    }

    /// A runtime tree `<root>/<version>/envoy/<key path>` with `current` pointing at a version.
    struct RuntimeTree {
        let root: URL
        var current: String { root.appendingPathComponent("current").path }

        static func make() throws -> RuntimeTree { RuntimeTree(root: try TemporaryDirectory.make(prefix: "runtime")) }

        /// Writes `values` (key → file content) as version `version`, then points `current` at it
        /// with a rename, as deploy tools swap runtime trees.
        func publish(_ version: String, _ values: [String: String]) throws {
            let base = root.appendingPathComponent(version).appendingPathComponent("envoy")
            for (key, value) in values {
                let file = base.appendingPathComponent(key.replacingOccurrences(of: ".", with: "/"))
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try value.write(to: file, atomically: true, encoding: .utf8)
            }
            let staging = root.appendingPathComponent("staging-\(version)").path
            try FileManager.default.createSymbolicLink(atPath: staging, withDestinationPath: root.appendingPathComponent(version).path)
            guard rename(staging, current) == 0 else { throw ChildProcessError("rename failed: \(errno)") }
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    @Test("a disk layer's files set runtime; swapping its symlink to a new tree reaches the workers within seconds")
    func diskLayer() async throws {
        let tree = try RuntimeTree.make()
        defer { tree.remove() }
        try tree.publish("v1", ["fault.http.abort.abort_percent": "0\n", "fault.http.abort.http_status": "# a comment\n418\n"])
        let layers = "  - {name: disk, disk_layer: {symlink_root: \(tree.current), subdirectory: envoy}}"
        let fault = "abort: {http_status: 503, percentage: {numerator: 100}}"
        try await FaultSetup.with(fault: fault, top: FaultSetup.runtime(layers), concurrency: 2) { (proxy: ProxyHarness) async throws in
            #expect(try await FaultSetup.statuses(proxy.url("/d"), count: 10) == Array(repeating: 200, count: 10))
            let runtime = try Admin.json(try await Admin.get(proxy, "/runtime").body)
            #expect(runtime["layers"] as? [String] == ["disk", "admin"])
            let entries = runtime["entries"] as? [String: [String: Any]]
            #expect(entries?["fault.http.abort.http_status"]?["final_value"] as? String == "418")

            try tree.publish("v2", ["fault.http.abort.abort_percent": "100"])
            let swapped = try await Support.eventually(timeout: .seconds(10)) {
                try await Curl.fetch(proxy.url("/d")).status == 503
            }
            #expect(swapped)
            // Both workers have the new tree: requests on new connections (spread over the two
            // workers' sockets) are all aborted, with the config's status (v2 has no http_status).
            for _ in 0..<12 { #expect(try await Curl.fetch(proxy.url("/d")).status == 503) }
        }
    }

    @Test("a disk layer whose directory is missing is an empty layer, left out of /runtime, until it appears")
    func missingDiskLayer() async throws {
        let tree = try RuntimeTree.make()
        defer { tree.remove() }
        let layers = "  - {name: disk, disk_layer: {symlink_root: \(tree.current), subdirectory: envoy}}"
        try await FaultSetup.with(fault: "abort: {http_status: 503, percentage: {numerator: 0}}", top: FaultSetup.runtime(layers)) { (proxy: ProxyHarness) async throws in
            let runtime = try Admin.json(try await Admin.get(proxy, "/runtime").body)
            #expect(runtime["layers"] as? [String] == ["admin"])
            #expect(try await Curl.fetch(proxy.url("/m")).status == 200)
            try tree.publish("v1", ["fault.http.abort.abort_percent": "100"])
            #expect(try await Support.eventually { try await Curl.fetch(proxy.url("/m")).status == 503 })
        }
    }
}
