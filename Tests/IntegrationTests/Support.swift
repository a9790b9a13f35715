import FerryTestKit
import Foundation

/// Small helpers shared by the integration tests.
enum Support {
    /// A route list item answering with `body` (200), so a test can tell which route matched.
    static func answer(_ match: String, _ body: String, status: Int = 200) -> String {
        "- match: \(match)\n  direct_response: {status: \(status), body: {inline_string: \"\(body)\"}}\n"
    }

    /// A route list item forwarding to `cluster`, with more `route` action fields in `extra`.
    static func forward(_ match: String, to cluster: String, extra: String = "") -> String {
        let fields = extra.isEmpty ? "" : ", \(extra)"
        return "- match: \(match)\n  route: {cluster: \(cluster)\(fields)}\n"
    }

    /// Runs one curl process that sends `count` GETs over one keep-alive connection (curl's
    /// URL globbing: `url?n=[1-count]`) and returns, per request, the status code and the
    /// value of response header `header`.
    static func sequential(
        _ url: String, count: Int, header: String = "x-echo-name",
        extra: [String] = []
    ) async throws -> [(status: Int, value: String)] {
        let arguments =
            extra + ["-w", "%{http_code} %header{\(header)}\\n", "-o", "/dev/null", "\(url)?n=[1-\(count)]"]
        let result = try await Curl.perform(arguments, timeout: 60)
        return result.body.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return (Int(parts.first ?? "") ?? 0, parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// A proxy whose only route sends everything to one echo upstream named "backend";
    /// `hcmExtra` adds connection manager fields.
    static func withEchoBackend(hcmExtra: String = "", _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(routes: forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [ports[0]])],
                                 hcmExtra: hcmExtra)
        }) { proxy, _ in
            try await body(proxy)
        }
    }

    /// `GET path` with an explicit Host header; returns status and body.
    static func get(
        _ proxy: ProxyHarness, _ path: String, host: String? = nil,
        headers: [String: String] = [:]
    ) async throws -> Curl.Result {
        var all = headers
        if let host { all["Host"] = host }
        return try await Curl.fetch(proxy.url(path), headers: all)
    }

    /// Polls `condition` every 20 ms for at most `timeout`; returns whether it held.
    static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows
        -> Bool
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    /// A lower-case version-4 UUID, the form Envoy generates for x-request-id.
    static func isUUID(_ text: String?) -> Bool {
        guard let text else { return false }
        return text.wholeMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/) != nil
    }
}

/// A temporary file of a given size, removed after use.
enum TempFile {
    static func with<T>(bytes count: Int, _ body: (String) async throws -> T) async throws -> T {
        let path = NSTemporaryDirectory() + "ferry-body-\(UUID().uuidString).bin"
        guard FileManager.default.createFile(atPath: path, contents: Data(repeating: UInt8(ascii: "u"), count: count))
        else {
            throw CocoaError(.fileWriteUnknown)
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }
}
