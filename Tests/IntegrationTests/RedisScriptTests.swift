import FerryProxy
import FerryTestKit
import NIOCore
import Testing

/// `EVALSHA` with recovery from `NOSCRIPT`: a restarted, failed-over or flushed Redis no longer
/// has the script cached, and the first decision after that must still be one round of retries,
/// never a failure and never a double run.
@Suite("Redis scripts")
struct RedisScriptTests {
    static let increment = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")

    static func run(_ client: RedisTestClient, _ script: RedisScript, key: String) async -> Result<
        RESPValue, RedisError
    > {
        await client.call { redis, done in
            redis.evaluate(script, keys: [.string(key)], arguments: [1], timeout: .seconds(5), done)
        }
    }

    @Test("the script's SHA-1 is the name Redis gives it")
    func sha1MatchesServer() async throws {
        try await withRedis { client throws in
            let loaded = try await client.expectValue(["SCRIPT", "LOAD", .string(Self.increment.source)])
            #expect(loaded.string == Self.increment.sha1)
        }
    }

    @Test("after SCRIPT FLUSH the next run loads the script again and runs it exactly once")
    func noscriptRecovery() async throws {
        try await withRedis { client throws in
            #expect(await Self.run(client, Self.increment, key: "n") == .success(.integer(1)))
            #expect(try await client.expectValue(["SCRIPT", "FLUSH"]) == .simpleString("OK"))
            #expect(
                try await client.expectValue(["SCRIPT", "EXISTS", .string(Self.increment.sha1)])
                    == .array([.integer(0)]))
            #expect(await Self.run(client, Self.increment, key: "n") == .success(.integer(2)))
            #expect(
                try await client.expectValue(["SCRIPT", "EXISTS", .string(Self.increment.sha1)])
                    == .array([.integer(1)]))

            // Many runs in flight when the cache is gone: each retries, none runs twice.
            #expect(try await client.expectValue(["SCRIPT", "FLUSH"]) == .simpleString("OK"))
            let results = await client.burst(50) { redis, done in
                redis.evaluate(Self.increment, keys: ["many"], arguments: [1], timeout: .seconds(5), done)
            }
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            #expect(try await client.expectValue(["GET", "many"]) == .bulkString(ByteBuffer(string: "50")))
        }
    }

    @Test("governance decisions survive SCRIPT FLUSH and keep counting the same window")
    func governanceAfterFlush() async throws {
        try await withRedis { client throws in
            let decide: Decide<RedisGovernance.FixedWindowDecision> = { redis, done in
                RedisGovernance.fixedWindow(
                    redis, key: "fw", limit: 3, windowMs: 60_000, timeout: .seconds(5), done)
            }
            #expect(try await client.decide(decide).get().remaining == 2)
            _ = try await client.expectValue(["SCRIPT", "FLUSH"])
            #expect(try await client.decide(decide).get().remaining == 1)
        }
    }

    @Test("a script that does not compile reports the compile error, not NOSCRIPT")
    func brokenScript() async throws {
        try await withRedis { client throws in
            guard case .failure(.server(let message)) = await Self.run(client, RedisScript("this is not lua"), key: "k")
            else {
                Issue.record("a broken script must fail with the server's error")
                return
            }
            #expect(message.contains("Error compiling script"), "\(message)")
        }
    }

    @Test("a script error at run time is a server error for that call only")
    func runtimeError() async throws {
        try await withRedis { client throws in
            _ = try await client.expectValue(["SET", "text", "not a number"])
            guard case .failure(.server(let message)) = await Self.run(client, Self.increment, key: "text")
            else {
                Issue.record("INCRBY on text must fail")
                return
            }
            #expect(message.contains("not an integer"), "\(message)")
            #expect(await Self.run(client, Self.increment, key: "fine") == .success(.integer(1)))
        }
    }
}
