import FerryProxy
import FerryTestKit
import NIOCore
import NIOPosix
import Testing

/// The Redis client against a real redis-server (and against fakes for what a real one never
/// sends): pipelining, AUTH/SELECT, fail-fast while down, reconnects, timeouts, bad bytes.
@Suite("Redis client")
struct RedisClientTests {
    static var loop: any EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    @Test("binary values round-trip; 200 pipelined commands each get their own reply, in order")
    func roundTripAndPipelining() async throws {
        try await RedisServer.with { server throws in
            try await RedisTestClient.with(port: server.port, on: Self.loop) { client throws in
                var value = ByteBuffer(string: "a\r\nb")
                value.writeInteger(UInt8(0))
                #expect(try await client.expectValue(["SET", "k", .bytes(value)]) == .simpleString("OK"))
                #expect(try await client.expectValue(["GET", "k"]) == .bulkString(value))
                #expect(try await client.expectValue(["GET", "missing"]) == .bulkString(nil))
                #expect(try await client.expectValue(["RPUSH", "list", "x", 7]) == .integer(2))
                #expect(
                    try await client.expectValue(["LRANGE", "list", 0, -1])
                        == .array([.bulkString(ByteBuffer(string: "x")), .bulkString(ByteBuffer(string: "7"))]))
                let counts: [Int] = await client.call { redis, done in
                    var seen: [Int] = []
                    for _ in 0..<200 {
                        redis.send(["INCR", "n"], timeout: .seconds(5)) { result in
                            seen.append((try? result.get())?.integer ?? -1)
                            if seen.count == 200 { done(seen) }
                        }
                    }
                }
                #expect(counts == Array(1...200))
                guard case .failure(.server(let message)) = await client.send(["NOSUCHCOMMAND"], timeout: .seconds(5))
                else {
                    Issue.record("an unknown command is a server error")
                    return
                }
                #expect(message.hasPrefix("ERR unknown command"))
            }
        }
    }

    @Test("AUTH (with and without a username) and SELECT run before the first command")
    func authAndSelect() async throws {
        try await RedisServer.with(arguments: ["--requirepass", "s3cret"]) { server throws in
            try await RedisTestClient.with(
                port: server.port, on: Self.loop,
                configure: {
                    $0.password = "s3cret"
                    $0.database = 3
                }
            ) { db3 throws in
                #expect(try await db3.expectValue(["SET", "x", "in-3"]) == .simpleString("OK"))
            }
            try await RedisTestClient.with(
                port: server.port, on: Self.loop,
                configure: {
                    $0.username = "default"
                    $0.password = "s3cret"
                }
            ) { db0 throws in
                #expect(try await db0.expectValue(["GET", "x"]) == .bulkString(nil))
                #expect(try await db0.expectValue(["SELECT", 3]) == .simpleString("OK"))
                #expect(try await db0.expectValue(["GET", "x"]) == .bulkString(ByteBuffer(string: "in-3")))
            }
        }
    }

    @Test("a wrong password: the client never becomes ready, commands fail at once, the failure says why")
    func wrongPassword() async throws {
        try await RedisServer.with(arguments: ["--requirepass", "s3cret"]) { server throws in
            let client = try await RedisTestClient.start(port: server.port, on: Self.loop, waitUntilConnected: false) {
                $0.password = "wrong"
            }
            try await withCleanup {
                #expect(
                    await Support.eventually(timeout: .seconds(10)) {
                        await client.read { $0.lastFailure }?.contains("WRONGPASS") == true
                    })
                #expect(await client.send(["PING"]) == .failure(.notConnected))
                #expect(await client.read { $0.connectionsReady } == 0)
            } cleanup: {
                await client.close()
            }
        }
    }

    /// Sends `GET k` and reports what the callback got before `send` returned (nil: nothing yet).
    static func answeredInline(_ client: RedisTestClient) async -> Result<RESPValue, RedisError>? {
        await client.call { redis, done in
            var answer: Result<RESPValue, RedisError>?
            redis.send(["GET", "k"]) { answer = $0 }
            done(answer)
        }
    }

    @Test("while Redis is down commands fail inside send itself; the client reconnects when it is back")
    func downThenBack() async throws {
        try await RedisServer.with { server throws in
            try await RedisTestClient.with(
                port: server.port, on: Self.loop,
                configure: {
                    $0.reconnectCap = .milliseconds(200)
                }
            ) { client throws in
                #expect(try await client.expectValue(["SET", "k", "v"]) == .simpleString("OK"))
                await server.stop()
                // The closed socket tells the client, before any command fails.
                #expect(await Support.eventually(timeout: .seconds(5)) { await !client.isConnected })
                for _ in 0..<3 {
                    #expect(await Self.answeredInline(client) == .failure(.notConnected))
                    try await Task.sleep(for: .milliseconds(100))  // through a few reconnect attempts
                }
                let governed = await client.call { redis, done in
                    var answer: Result<RedisGovernance.FixedWindowDecision, RedisError>?
                    RedisGovernance.fixedWindow(redis, key: "rl", limit: 1, windowMs: 1000) { answer = $0 }
                    done(answer)
                }
                #expect(governed == .failure(.notConnected))
                #expect(await client.read { $0.lastFailure }?.contains("127.0.0.1:\(server.port)") == true)

                try await server.restart()
                #expect(await client.waitUntilConnected(timeout: .seconds(10)))
                #expect(await client.read { $0.connectionsReady } == 2)
                // A fresh server: an empty data set, and the client's commands reach it.
                #expect(try await client.expectValue(["GET", "k"]) == .bulkString(nil))
            }
        }
    }

    @Test("a command past its timeout fails with timeout; its late reply does not reach the next command")
    func commandTimeout() async throws {
        try await RedisServer.with { server throws in
            try await RedisTestClient.with(
                port: server.port, on: Self.loop,
                configure: {
                    $0.stallTimeout = .seconds(5)
                }
            ) { client throws in
                // Both go out at once: DEBUG SLEEP holds the server 1 s, PING is answered after it.
                let events: [String] = await client.call { redis, done in
                    var events: [String] = []
                    redis.send(["DEBUG", "SLEEP", "1"], timeout: .milliseconds(100)) {
                        events.append($0 == .failure(.timeout) ? "sleep timed out" : "sleep: \($0)")
                    }
                    redis.send(["PING"], timeout: .seconds(5)) {
                        events.append($0 == .success(.simpleString("PONG")) ? "PONG" : "ping: \($0)")
                        done(events)
                    }
                }
                #expect(events == ["sleep timed out", "PONG"])
                #expect(try await client.expectValue(["ECHO", "after"]) == .bulkString(ByteBuffer(string: "after")))
                #expect(await client.read { $0.connectionsReady } == 1)
            }
        }
    }

    @Test("a server that accepts and never answers: commands time out, then the stalled connection is replaced")
    func silentServer() async throws {
        try await FakeRedisServer.with(reply: { _ in nil }) { fake throws in
            try await RedisTestClient.with(
                port: fake.port, on: Self.loop,
                configure: {
                    $0.commandTimeout = .milliseconds(100)
                    $0.stallTimeout = .milliseconds(300)
                    $0.reconnectCap = .milliseconds(100)
                }
            ) { client throws in
                let start = ContinuousClock.now
                #expect(await client.send(["PING"]) == .failure(.timeout))
                #expect(ContinuousClock.now - start >= .milliseconds(100))
                #expect(await Support.eventually(timeout: .seconds(5)) { fake.closed >= 1 && fake.accepted >= 2 })
                #expect(await client.read { $0.lastFailure }?.contains("timed out") == true)
            }
        }
    }

    @Test("a server that never completes the TCP handshake: commands fail at once instead of waiting")
    func blackholedServer() async throws {
        guard let blackhole = BlackholeListener.start() else {
            Issue.record("could not open a loopback listener")
            return
        }
        defer { blackhole.stop() }
        try #require(blackhole.isBlackholing, "this kernel answers SYNs past a full accept queue")
        let client = try await RedisTestClient.start(port: blackhole.port, on: Self.loop, waitUntilConnected: false) {
            $0.connectTimeout = .milliseconds(200)
        }
        try await withCleanup {
            #expect(await Self.answeredInline(client) == .failure(.notConnected))
            #expect(
                await Support.eventually(timeout: .seconds(5)) {
                    await client.read { $0.lastFailure }?.contains("connect to 127.0.0.1:\(blackhole.port) failed")
                        == true
                })
            #expect(await Self.answeredInline(client) == .failure(.notConnected))
        } cleanup: {
            await client.close()
        }
    }

    @Test(
        "bytes that are not a valid reply close the connection with a protocol error; the client reconnects",
        arguments: [
            ("!garbage\r\n", "invalid RESP type byte 0x21"),
            ("$999999999999\r\n", "RESP bulk string of 999999999999 bytes is over the limit"),
            (String(repeating: "*1\r\n", count: 100), "RESP arrays nested too deep"),
            ("+OK\r\n+unasked\r\n", "a reply to no command"),
        ])
    func malformedReplies(wire: String, detail: String) async throws {
        try await FakeRedisServer.with(reply: { _ in wire }) { fake throws in
            try await RedisTestClient.with(
                port: fake.port, on: Self.loop,
                configure: {
                    $0.reconnectCap = .milliseconds(100)
                }
            ) { client throws in
                let result = await client.send(["PING"], timeout: .seconds(5))
                if wire.hasPrefix("+OK") {
                    #expect(result == .success(.simpleString("OK")))
                } else {
                    #expect(result == .failure(.protocolError(detail)))
                }
                #expect(await Support.eventually(timeout: .seconds(5)) { fake.closed >= 1 && fake.accepted >= 2 })
                #expect(await client.read { $0.lastFailure }?.hasSuffix("protocol error: \(detail)") == true)
            }
        }
    }
}
