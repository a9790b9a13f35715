import FerryProxy
import FerryTestKit
import Foundation
import NIOCore
import NIOPosix

/// One governance call with its client and callback, to run with `burst` or `decide`.
typealias Decide<Decision> = @Sendable (RedisClient, @escaping RedisGovernance.Callback<Decision>) -> Void

/// A `RedisClient` driven from async tests: the client lives on `loop`; every call hops there
/// and waits for the callback.
struct RedisTestClient: Sendable {
    let loop: any EventLoop
    let bound: NIOLoopBound<RedisClient>

    /// A started client; by default waits (at most 10 s) until it is connected.
    static func start(
        port: Int, on loop: any EventLoop, waitUntilConnected: Bool = true,
        configure: (inout RedisClient.Configuration) -> Void = { _ in }
    ) async throws -> RedisTestClient {
        var configuration = RedisClient.Configuration(host: "127.0.0.1", port: port)
        configure(&configuration)
        let settings = configuration
        let bound = try await loop.submit {
            let client = RedisClient(configuration: settings, eventLoop: loop)
            client.start()
            return NIOLoopBound(client, eventLoop: loop)
        }.get()
        let client = RedisTestClient(loop: loop, bound: bound)
        if waitUntilConnected, !(await client.waitUntilConnected()) {
            let failure = await client.read { $0.lastFailure }
            await client.close()
            throw ChildProcessError("redis client did not connect to port \(port): \(failure ?? "no failure recorded")")
        }
        return client
    }

    /// Starts a client, runs `body`, and closes the client whatever happens.
    static func with<T>(
        port: Int, on loop: any EventLoop, configure: (inout RedisClient.Configuration) -> Void,
        _ body: (RedisTestClient) async throws -> T
    ) async throws -> T {
        let client = try await start(port: port, on: loop, configure: configure)
        return try await withCleanup {
            try await body(client)
        } cleanup: {
            await client.close()
        }
    }

    /// `with` and the default configuration.
    static func with<T>(port: Int, on loop: any EventLoop, _ body: (RedisTestClient) async throws -> T)
        async throws -> T
    {
        try await with(port: port, on: loop, configure: { _ in }, body)
    }

    /// Runs `body` on the loop with the client and a completion; returns what it completes with.
    func call<T: Sendable>(_ body: @escaping @Sendable (RedisClient, @escaping (T) -> Void) -> Void) async -> T {
        let promise = loop.makePromise(of: T.self)
        loop.execute { body(bound.value) { promise.succeed($0) } }
        // Never fails: only `succeed` completes the promise.
        return try! await promise.futureResult.get()
    }

    /// Starts `count` calls of `body` in one loop turn (pipelined) and returns every result,
    /// in the order the callbacks ran.
    func burst<T: Sendable>(_ count: Int, _ body: @escaping Decide<T>) async -> [Result<T, RedisError>] {
        await call { client, done in
            var results: [Result<T, RedisError>] = []
            for _ in 0..<count {
                body(client) { result in
                    results.append(result)
                    if results.count == count { done(results) }
                }
            }
        }
    }

    /// One call of `body`; its result.
    func decide<T: Sendable>(_ body: @escaping Decide<T>) async -> Result<T, RedisError> {
        await burst(1, body)[0]
    }

    /// Reads client state on the loop.
    func read<T: Sendable>(_ body: @escaping @Sendable (RedisClient) -> T) async -> T {
        await call { client, done in done(body(client)) }
    }

    func send(_ arguments: [RESPArgument], timeout: TimeAmount? = nil) async -> Result<RESPValue, RedisError> {
        await call { client, done in client.send(arguments, timeout: timeout, done) }
    }

    /// A reply that must be a success (5 s timeout).
    func expectValue(_ arguments: [RESPArgument]) async throws -> RESPValue {
        try await send(arguments, timeout: .seconds(5)).get()
    }

    var isConnected: Bool { get async { await read { $0.isConnected } } }

    /// Polls until connected; false after `timeout`.
    func waitUntilConnected(timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await isConnected { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await isConnected
    }

    func close() async {
        await read { $0.close() }
    }
}

/// Two event loops of their own (the shared-budget tests need two distinct worker loops),
/// shut down after `body`.
func withTwoLoops<T>(_ body: (any EventLoop, any EventLoop) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let loops = Array(group.makeIterator())
    return try await withCleanup {
        try await body(loops[0], loops[1])
    } cleanup: {
        try? await group.shutdownGracefully()
    }
}

/// A TCP server playing a broken Redis: for every chunk of bytes it receives on a connection, it
/// writes `reply(connection number)` back (nil: stays silent). It counts connections accepted
/// and closed, so a test can see the client drop a bad connection and make a new one.
final class FakeRedisServer: Sendable {
    let channel: Channel
    let log: Log

    var port: Int { channel.localAddress?.port ?? 0 }
    var accepted: Int { log.counts.accepted }
    var closed: Int { log.counts.closed }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var accepted = 0
        private var closed = 0
        func accept() -> Int {
            lock.withLock {
                accepted += 1
                return accepted
            }
        }
        func close() { lock.withLock { closed += 1 } }
        var counts: (accepted: Int, closed: Int) { lock.withLock { (accepted, closed) } }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: @Sendable (Int) -> String?
        let log: Log
        var number = 0

        init(reply: @escaping @Sendable (Int) -> String?, log: Log) {
            self.reply = reply
            self.log = log
        }

        func channelActive(context: ChannelHandlerContext) { number = log.accept() }
        func channelInactive(context: ChannelHandlerContext) { log.close() }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let text = reply(number) {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    init(channel: Channel, log: Log) {
        self.channel = channel
        self.log = log
    }

    static func with<T>(
        reply: @escaping @Sendable (Int) -> String?, _ body: (FakeRedisServer) async throws -> T
    ) async throws -> T {
        let log = Log()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(reply: reply, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = FakeRedisServer(channel: channel, log: log)
        return try await withCleanup {
            try await body(server)
        } cleanup: {
            try? await channel.close().get()
        }
    }
}

/// A redis-server and one connected client on a shared loop.
func withRedis(_ body: (RedisTestClient) async throws -> Void) async throws {
    try await RedisServer.with { server in
        try await RedisTestClient.with(port: server.port, on: MultiThreadedEventLoopGroup.singleton.next(), body)
    }
}

/// A redis-server and two clients on two event loops of their own: two workers (or two Ferry
/// processes) sharing one budget.
func withRedisOnTwoLoops(_ body: (RedisTestClient, RedisTestClient) async throws -> Void) async throws {
    try await withTwoLoops { first, second in
        try await RedisServer.with { server in
            try await RedisTestClient.with(port: server.port, on: first) { a in
                try await RedisTestClient.with(port: server.port, on: second) { b in try await body(a, b) }
            }
        }
    }
}
