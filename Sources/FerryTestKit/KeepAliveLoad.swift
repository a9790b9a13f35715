import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Steady, bounded load for integration tests: `clients` keep-alive connections, each sending
/// GETs one after another (with `pause` between them, so the load does not starve tests
/// running in parallel) until `duration` passes or it has sent `maxRequests`, recording the
/// outcome of every request. A client whose connection breaks records the failure and opens a
/// new connection for its next request, so one broken connection never ends the run.
public enum KeepAliveLoad {
    /// What happened to one request.
    public struct Outcome: Sendable {
        public var client: Int
        public var index: Int
        /// 0 when no complete response arrived (connection closed or reset, timeout).
        public var status: Int
        /// The value of the response header named in `run(header:)`.
        public var value: String?
        public var started: ContinuousClock.Instant
        /// `started` on the proxy's clock (NIO's monotonic uptime), for checks against
        /// windows the proxy aligns to its own clock.
        public var startedUptimeNanos: UInt64 = 0
        /// `ended` on the proxy's clock.
        public var endedUptimeNanos: UInt64 = 0
        public var ended: ContinuousClock.Instant
        public var error: String?

        public var succeeded: Bool { (200..<300).contains(status) }
    }

    public struct Report: Sendable {
        public var outcomes: [Outcome]
        /// Connections opened, reconnects included.
        public var connectionsOpened: Int

        public var successes: Int { outcomes.filter(\.succeeded).count }
        public var failures: [Outcome] { outcomes.filter { !$0.succeeded } }

        /// What an ideal token bucket (`capacity` tokens, full at the first decision, refilled
        /// continuously at `rate` per second) admits of requests given as (start, end) on the
        /// proxy's clock, deciding each at its start, and each at its end. The proxy decides
        /// each somewhere in between, so a correct limiter admits about what this range says,
        /// whatever stalls the machine or the clients had: a stall leaves a gap in both replays,
        /// and clients that offered too little show as fewer requests in both.
        public static func tokenBucketAdmissions(_ requests: [(UInt64, UInt64)], capacity: Double, rate: Double)
            -> ClosedRange<Double>
        {
            func replay(_ times: [UInt64]) -> Double {
                guard var last = times.first else { return 0 }
                var tokens = capacity, admitted = 0.0
                for t in times {
                    tokens = min(capacity, tokens + rate * Double(t - last) / 1e9)
                    last = t
                    if tokens >= 1 {
                        tokens -= 1
                        admitted += 1
                    }
                }
                return admitted
            }
            let atStarts = replay(requests.map(\.0).sorted()), atEnds = replay(requests.map(\.1).sorted())
            return min(atStarts, atEnds)...max(atStarts, atEnds)
        }

        /// Admissions a saturated limiter refilling `rate` per second could not make because it
        /// decided nothing for a while: a decision ends a request, so a gap between consecutive
        /// request ends is a time in which the limiter refilled but could hold back only `held`
        /// for later. (On a loaded machine the clients, or the proxy's own loops, sometimes
        /// stall for most of a second; that is the machine, not the limiter. Accuracy tests
        /// lower only their lower bound by this: a limiter that admits more than its rule
        /// allows, or under-admits while requests keep being decided, still fails.)
        /// Requests are given as (start, end) on the proxy's clock. The run's span, from its first start to its last end, is also longer than the time the
        /// limiter decided in: the first decision lies somewhere in the first request and the
        /// last in the last one, so their durations count as stalls too (a few milliseconds on
        /// a quiet machine, more when the first connection is slow to open).
        public static func stalledAdmissions(_ requests: [(UInt64, UInt64)], rate: Double, held: Double) -> Double {
            guard let first = requests.min(by: { $0.0 < $1.0 }), let last = requests.max(by: { $0.1 < $1.1 }) else { return 0 }
            let ends = requests.map(\.1).sorted()
            let edges = rate * (Double(first.1 - first.0) + Double(last.1 - last.0)) / 1e9
            return zip(ends, ends.dropFirst()).reduce(edges) { waste, pair in
                waste + max(0, rate * Double(pair.1 - pair.0) / 1e9 - held)
            }
        }
    }

    /// Runs the load against `127.0.0.1:port`; `path(client, index)` names each request's target.
    /// Every request is bounded by `requestTimeout`, the run by `duration` and `maxRequests`.
    public static func run(
        port: Int, clients: Int = 1, duration: Duration, maxRequests: Int = 10_000,
        header: String = "x-echo-name", requestTimeout: Duration = .seconds(10), pause: Duration = .zero,
        path: @escaping @Sendable (Int, Int) -> String = { _, _ in "/" }
    ) async -> Report {
        let deadline = ContinuousClock.now + duration
        return await withTaskGroup(of: (outcomes: [Outcome], opened: Int).self) { group in
            for client in 0..<clients {
                group.addTask {
                    await runClient(
                        client, port: port, deadline: deadline, maxRequests: maxRequests, header: header,
                        requestTimeout: requestTimeout, pause: pause, path: path)
                }
            }
            var report = Report(outcomes: [], connectionsOpened: 0)
            for await result in group {
                report.outcomes += result.outcomes
                report.connectionsOpened += result.opened
            }
            report.outcomes.sort { $0.started < $1.started }
            return report
        }
    }

    static func runClient(
        _ client: Int, port: Int, deadline: ContinuousClock.Instant, maxRequests: Int, header: String,
        requestTimeout: Duration, pause: Duration, path: @Sendable (Int, Int) -> String
    ) async -> (outcomes: [Outcome], opened: Int) {
        var outcomes: [Outcome] = []
        var opened = 0
        var connection: LoadConnection?
        for index in 0..<maxRequests {
            guard ContinuousClock.now < deadline else { break }
            let started = ContinuousClock.now
            var outcome = Outcome(client: client, index: index, status: 0, started: started, ended: started)
            outcome.startedUptimeNanos = NIODeadline.now().uptimeNanoseconds
            do {
                if connection == nil || !connection!.isActive {
                    await connection?.close()
                    connection = try await LoadConnection.connect(port: port)
                    opened += 1
                }
                let reply = try await connection!.get(path(client, index), timeout: requestTimeout)
                outcome.status = reply.status
                outcome.value = reply.headers.first(name: header)
                if !reply.keepAlive {
                    await connection?.close()
                    connection = nil
                }
            } catch {
                outcome.error = "\(error)"
                await connection?.close()
                connection = nil
            }
            outcome.ended = ContinuousClock.now
            outcome.endedUptimeNanos = NIODeadline.now().uptimeNanoseconds
            outcomes.append(outcome)
            if pause > .zero { try? await Task.sleep(for: pause) }
        }
        await connection?.close()
        return (outcomes, opened)
    }
}

/// One keep-alive HTTP/1.1 client connection: one request at a time.
final class LoadConnection: Sendable {
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var keepAlive: Bool
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let channel: Channel
    let waiter: ReplyWaiter

    init(channel: Channel, waiter: ReplyWaiter) {
        self.channel = channel
        self.waiter = waiter
    }

    var isActive: Bool { channel.isActive }

    static func connect(port: Int) async throws -> LoadConnection {
        let waiter = ReplyWaiter()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(waiter: waiter))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return LoadConnection(channel: channel, waiter: waiter)
    }

    func get(_ path: String, timeout: Duration) async throws -> Reply {
        let promise = channel.eventLoop.makePromise(of: Reply.self)
        waiter.expect(promise)
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "load")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { [waiter] error in
            waiter.fail(Failure(description: "write failed: \(error)"))
        }
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [waiter] in
            waiter.fail(Failure(description: "no response within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close().get()
    }
}

/// The promise of the request in flight, completed exactly once by the response, the
/// connection closing, a write error or the timeout (whichever comes first).
final class ReplyWaiter: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: EventLoopPromise<LoadConnection.Reply>?

    func expect(_ promise: EventLoopPromise<LoadConnection.Reply>) { lock.withLock { pending = promise } }

    private func take() -> EventLoopPromise<LoadConnection.Reply>? {
        lock.withLock {
            defer { pending = nil }
            return pending
        }
    }

    func succeed(_ reply: LoadConnection.Reply) { take()?.succeed(reply) }
    func fail(_ error: any Error) { take()?.fail(error) }
}

final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    let waiter: ReplyWaiter
    private var head: HTTPResponseHead?

    init(waiter: ReplyWaiter) { self.waiter = waiter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            waiter.succeed(.init(status: Int(head.status.code), headers: head.headers, keepAlive: head.isKeepAlive))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        waiter.fail(LoadConnection.Failure(description: "connection closed before the response was complete"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        waiter.fail(LoadConnection.Failure(description: "\(error)"))
        context.close(promise: nil)
    }
}
