import FerryTestKit
import Foundation

/// Small helpers shared by the admin API tests: curl against the harness's admin port and
/// parsers for the admin formats.
enum Admin {
    static func get(_ proxy: ProxyHarness, _ path: String) async throws -> Curl.Result {
        try await Curl.fetch(["http://127.0.0.1:\(proxy.adminPort)\(path)"])
    }

    static func post(_ proxy: ProxyHarness, _ path: String) async throws -> Curl.Result {
        try await Curl.fetch(["-X", "POST", "http://127.0.0.1:\(proxy.adminPort)\(path)"])
    }

    /// `/stats` text: `name: value` lines as a dictionary (histogram lines keep their text).
    static func stats(_ body: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in body.split(separator: "\n") {
            guard let range = line.range(of: ": ") else { continue }
            result[String(line[..<range.lowerBound])] = String(line[range.upperBound...])
        }
        return result
    }

    /// Parses a JSON document, failing the test with the body when it is not JSON.
    static func json(_ body: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw ChildProcessError("not a JSON object: \(body.prefix(300))")
        }
        return object
    }
}

/// Configs shared by the admin tests.
enum AdminConfigs {
    /// One listener routing everything to the echo cluster `backend`.
    static func backend(_ ports: [Int], extra: String = "") -> String {
        let routes = "- match: {prefix: \"/\"}\n  route: {cluster: backend}"
        return TestConfig.bootstrap(routes: routes, clusters: [("backend", [ports[0]])]) + extra
    }
}
