import ArgumentParser
import FerryTestKit

/// `ferry quickstart --check`: every quickstart route answers as the config says.
enum QuickstartCheck {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run() async throws {
        func expect(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw Failure(description: "quickstart check failed: \(message())") }
        }
        let health = try await TestHTTPClient.request(port: 10000, path: "/health")
        try expect(health.status == 200 && health.body == "ok\n", "/health answered \(health.status) \(health.body)")
        let api = try await TestHTTPClient.request(port: 10000, path: "/api/users/42")
        try expect(api.status == 200 && api.body.contains("\"name\":\"api\""), "/api/users/42 answered \(api.status) \(api.body)")
        var counts: [String: Int] = [:]
        for _ in 0..<200 {
            let shop = try await TestHTTPClient.request(port: 10000, path: "/shop")
            try expect(shop.status == 200, "/shop answered \(shop.status)")
            counts[shop.header("x-echo-name") ?? "?", default: 0] += 1
        }
        let v1 = counts["shop-v1", default: 0], v2 = counts["shop-v2", default: 0]
        // 80/20 over 200 picks: v1 within 125...190 is far outside chance failure.
        try expect(v1 + v2 == 200 && (125...190).contains(v1), "weighted split gave \(counts)")
        let missing = try await TestHTTPClient.request(port: 10000, path: "/nowhere")
        try expect(missing.status == 404, "/nowhere answered \(missing.status)")
        let stats = try await TestHTTPClient.request(port: 9901, path: "/stats?filter=ingress_http.downstream_rq_total")
        try expect(stats.body.contains("http.ingress_http.downstream_rq_total: 203"), "admin stats: \(stats.body)")
        print("  /health ok; /api ok; /shop split \(counts); /nowhere 404; admin stats ok")
    }
}
