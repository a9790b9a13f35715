import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.idempotency` through the real proxy: a keyed POST runs once and is
/// replayed, a duplicate in flight gets 409, a reused key with another body 422, the TTL ends
/// replays, GET is left alone, and responses that must not be kept are not.
@Suite("Idempotency filter")
struct IdempotencyTests {
    static func config(_ ports: [Int], _ fields: String = "") -> String {
        let filter = """
            - name: ferry.filters.http.idempotency
              typed_config: {"@type": type.googleapis.com/ferry.filters.http.idempotency.v1.Idempotency, stat_prefix: orders\(fields)}
            """
        return TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend, timeout: 30s}",
                                    clusters: [("backend", ports)], httpFilters: filter)
    }

    static func send(_ proxy: ProxyHarness, _ path: String, key: String?, body: String? = "{\"amount\": 10}",
                     method: String = "POST", extra: [String] = []) async throws -> Curl.Result {
        var args = ["-X", method] + extra
        if let body { args += ["--data-binary", body, "-H", "content-type: application/json"] }
        if let key { args += ["-H", "Idempotency-Key: \(key)"] }
        return try await Curl.perform(args + [proxy.url(path)])
    }

    static func upstreamRequests(_ proxy: ProxyHarness) async -> Int { await proxy.localStat("cluster.backend.upstream_rq_total") ?? -1 }

    @Test("the first POST runs once; its duplicate gets the same status and body with Idempotent-Replayed; another body with the key gets 422")
    func executesOnceThenReplays() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0) }) { proxy, _ in
            let first = try await Self.send(proxy, "/status/201", key: "k1")
            #expect(first.status == 201 && first.header("idempotent-replayed") == nil)
            #expect(try EchoReply(first.body).bodyBytes == 14)  // the buffered body reached the upstream
            let again = try await Self.send(proxy, "/status/201", key: "k1")
            #expect(again.status == 201 && again.body == first.body && again.header("idempotent-replayed") == "true")
            #expect(again.header("content-type") == first.header("content-type"))
            #expect(await Self.upstreamRequests(proxy) == 1)
            let other = try await Self.send(proxy, "/status/201", key: "k1", body: "{\"amount\": 99}")
            #expect(other.status == 422)
            let otherPath = try await Self.send(proxy, "/status/200", key: "k1")
            #expect(otherPath.status == 422)
            #expect(try await Self.send(proxy, "/status/201", key: "k2").status == 201)
            #expect(await Self.upstreamRequests(proxy) == 2)
            #expect(await proxy.localStat("orders.idempotency.executed") == 2)
            #expect(await proxy.localStat("orders.idempotency.replayed") == 1)
            #expect(await proxy.localStat("orders.idempotency.mismatch") == 2)
        }
    }

    @Test("scope_header keeps keys apart per caller: the same key from another caller runs, from the same caller replays")
    func scopeHeader() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0, ", scope_header: authorization") }) { proxy, _ in
            let alice = ["-H", "authorization: Bearer alice"], bob = ["-H", "authorization: Bearer bob"]
            #expect(try await Self.send(proxy, "/status/201", key: "k1", extra: alice).status == 201)
            // Bob's request with Alice's key is his own: it runs, even with another body (no 422).
            let bobs = try await Self.send(proxy, "/status/201", key: "k1", body: "{\"amount\": 99}", extra: bob)
            #expect(bobs.status == 201 && bobs.header("idempotent-replayed") == nil)
            let replay = try await Self.send(proxy, "/status/201", key: "k1", extra: alice)
            #expect(replay.status == 201 && replay.header("idempotent-replayed") == "true")
            #expect(await Self.upstreamRequests(proxy) == 2)
            #expect(await proxy.localStat("orders.idempotency.mismatch") == 0)
        }
    }

    @Test("a body the filter buffered is sent again, whole, by a retry; only the final response is stored")
    func bufferedBodyAndRetry() async throws {
        let upstream = try await FlakyUpstream.start([.status(503), .respond(201, body: "made")])
        try await withCleanup {
            let filter = """
                - name: ferry.filters.http.idempotency
                  typed_config: {"@type": type.googleapis.com/ferry.filters.http.idempotency.v1.Idempotency, stat_prefix: orders}
                """
            let routes = "- match: {prefix: \"/\"}\n  route: {cluster: backend, retry_policy: {retry_on: 5xx, num_retries: 1}}"
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: routes, clusters: [("backend", [upstream.port])], httpFilters: filter)
            }) { proxy, _ in
                let body = String(repeating: "x", count: 20_000)
                let first = try await Self.send(proxy, "/orders", key: "r1", body: body)
                #expect(first.status == 201 && first.body == "made")
                #expect(upstream.requests.map(\.bodyBytes) == [20_000, 20_000])
                let replay = try await Self.send(proxy, "/orders", key: "r1", body: body)
                #expect(replay.status == 201 && replay.body == "made" && replay.header("idempotent-replayed") == "true")
                #expect(upstream.requestCount == 2)
            }
        } cleanup: {
            await upstream.stop()
        }
    }

    @Test("a duplicate while the first request runs gets 409; after it, the replay")
    func conflictInFlight() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0) }) { proxy, _ in
            let first = Task { try await Self.send(proxy, "/delay/1500", key: "slow") }
            try await BulkheadTests.waitFor(proxy, "orders.idempotency.executed", 1)
            let duplicate = try await Self.send(proxy, "/delay/1500", key: "slow")
            #expect(duplicate.status == 409)
            let done = try await first.value
            #expect(done.status == 200)
            let replay = try await Self.send(proxy, "/delay/1500", key: "slow")
            #expect(replay.status == 200 && replay.body == done.body && replay.header("idempotent-replayed") == "true")
            #expect(await Self.upstreamRequests(proxy) == 1)
            #expect(await proxy.localStat("orders.idempotency.conflict") == 1)
        }
    }

    @Test("after the ttl the key is forgotten and the request runs again")
    func ttlExpiry() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0, ", ttl: 2s") }) { proxy, _ in
            #expect(try await Self.send(proxy, "/", key: "t").status == 200)
            #expect(try await Self.send(proxy, "/", key: "t").header("idempotent-replayed") == "true")
            try await Task.sleep(for: .milliseconds(2500))
            let later = try await Self.send(proxy, "/", key: "t")
            #expect(later.status == 200 && later.header("idempotent-replayed") == nil)
            #expect(await Self.upstreamRequests(proxy) == 2)
            #expect(await proxy.localStat("orders.idempotency.executed") == 2)
        }
    }

    @Test("GET with a key, and POST without one, pass untouched every time")
    func otherRequestsUntouched() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0) }) { proxy, _ in
            for _ in 0..<2 {
                let r = try await Self.send(proxy, "/", key: "g", body: nil, method: "GET")
                #expect(r.status == 200 && r.header("idempotent-replayed") == nil)
                #expect(try await Self.send(proxy, "/", key: nil).status == 200)
            }
            #expect(await Self.upstreamRequests(proxy) == 4)
            #expect(await proxy.localStat("orders.idempotency.executed") == 0)
        }
    }

    @Test("a response over max_response_bytes, a 5xx and a 429 are not stored (the retry runs again); a body over max_request_bytes gets 413")
    func notStored() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: {
            Self.config($0, ", max_response_bytes: 100, max_request_bytes: 1000")
        }) { proxy, _ in
            for (path, key, status) in [("/bytes/500", "big", 200), ("/status/503", "err", 503), ("/status/429", "busy", 429)] {
                for _ in 0..<2 {
                    let r = try await Self.send(proxy, path, key: key)
                    #expect(r.status == status && r.header("idempotent-replayed") == nil, "\(path)")
                }
            }
            #expect(await Self.upstreamRequests(proxy) == 6)
            #expect(await proxy.localStat("orders.idempotency.not_stored") == 6)
            #expect(await proxy.localStat("orders.idempotency.replayed") == 0)
            let large = try await Self.send(proxy, "/", key: "large", body: String(repeating: "x", count: 1500))
            #expect(large.status == 413)
            #expect(await Self.upstreamRequests(proxy) == 6)
        }
    }

    @Test("a chunked 20 KB upload is buffered, forwarded byte for byte and replayed byte for byte")
    func chunkedBodyIntact() async throws {
        try await MirrorServer.with { mirror in
            try await ProxyHarness.with(yaml: { _ in Self.config([mirror.port]) }) { proxy, _ in
                let body = (0..<2000).map { String(format: "%09d\n", $0) }.joined()
                let chunked = ["-H", "transfer-encoding: chunked"]
                let first = try await Self.send(proxy, "/", key: "u", body: body, extra: chunked)
                #expect(first.status == 200 && first.body == body && first.header("x-mirror-transfer-encoding") == "chunked")
                let replay = try await Self.send(proxy, "/", key: "u", body: body, extra: chunked)
                #expect(replay.status == 200 && replay.body == body && replay.header("idempotent-replayed") == "true")
                #expect(await Self.upstreamRequests(proxy) == 1)
            }
        }
    }
}
