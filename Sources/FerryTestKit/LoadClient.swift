import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Constant HTTP/1.1 traffic for reload and drain tests: a fixed number of client connections,
/// each sending one request at a time (`GET`, paths in turn) as fast as the answers come, on its
/// own event loop. Keep-alive connections reuse the socket until the server answers with
/// `connection: close`; "closing" connections send `connection: close` themselves, so every
/// request of theirs opens a new connection (which is what exposes refused connections).
///
/// Every outcome is counted: statuses, which echo upstream answered (the `"name"` of the JSON
/// reply), refused connects, and connections that broke with a request outstanding. Bounded:
/// stops at `maxRequests` or `maxDuration`, whichever comes first, or at `stop()`.
public final class LoadClient: Sendable {
    public struct Report: Sendable, CustomStringConvertible {
        /// Complete responses received.
        public var responses = 0
        public var statuses: [Int: Int] = [:]
        /// Responses by the echo upstream that produced them.
        public var upstreams: [String: Int] = [:]
        public var connects = 0
        public var connectFailures = 0
        /// Connections that closed or failed while a request waited for its response.
        public var brokenConnections = 0
        /// Requests without a response after `requestTimeout` (their connection is closed).
        public var timeouts = 0
        /// Responses from another upstream than `expectUpstream` named when the request left,
        /// for requests whose whole life fell between two `expectUpstream` calls.
        public var misrouted = 0
        /// The first few failures, described.
        public var samples: [String] = []

        public var non2xx: Int { statuses.filter { !(200..<300).contains($0.key) }.values.reduce(0, +) }
        public var failures: Int { non2xx + connectFailures + brokenConnections + timeouts + misrouted }

        public var description: String {
            "\(responses) responses over \(connects) connections; statuses \(statuses.sorted { $0.key < $1.key }); "
                + "upstreams \(upstreams.sorted { $0.key < $1.key }); refused \(connectFailures), broken \(brokenConnections), "
                + "timed out \(timeouts), misrouted \(misrouted)" + (samples.isEmpty ? "" : "; first failures: \(samples)")
        }
    }

    final class Shared: Sendable {
        let report = NIOLockedValueBox(Report())
        /// `epoch` counts `expectUpstream` calls, so a response can tell whether the expectation
        /// changed (a reload started) while its request was on the way.
        let state = NIOLockedValueBox<(stopped: Bool, sent: Int, expected: String?, epoch: Int)>((false, 0, nil, 0))
        let maxRequests: Int
        let deadline: NIODeadline

        init(maxRequests: Int, deadline: NIODeadline) {
            self.maxRequests = maxRequests
            self.deadline = deadline
        }

        /// Claims the next request, or nil when the run is over; returns what is expected of it.
        func claim() -> Expectation? {
            state.withLockedValue { s -> Expectation? in
                if s.stopped || s.sent >= maxRequests || NIODeadline.now() >= deadline {
                    s.stopped = true
                    return .none
                }
                s.sent += 1
                return Expectation(upstream: s.expected, epoch: s.epoch)
            }
        }

        var isStopped: Bool { state.withLockedValue { $0.stopped } }

        var epoch: Int { state.withLockedValue { $0.epoch } }

        func fail(_ update: (inout Report) -> Void, _ sample: String) {
            report.withLockedValue { r in
                update(&r)
                if r.samples.count < 10 { r.samples.append(sample) }
            }
        }
    }

    let shared: Shared
    let group: MultiThreadedEventLoopGroup
    let runner: Task<Void, Never>

    /// Starts `keepAlive + closing` connections to `127.0.0.1:port`.
    public init(port: Int, paths: [String], keepAlive: Int, closing: Int = 0, maxRequests: Int = 200_000,
                maxDuration: Duration = .seconds(60), requestTimeout: TimeAmount = .seconds(10)) {
        let seconds = maxDuration.components.seconds
        let shared = Shared(maxRequests: maxRequests, deadline: .now() + .seconds(seconds))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.shared = shared
        self.group = group
        runner = Task {
            await withTaskGroup(of: Void.self) { tasks in
                for index in 0..<(keepAlive + closing) {
                    let rotated = Array(paths[(index % paths.count)...] + paths[..<(index % paths.count)])
                    tasks.addTask {
                        await Self.drive(port: port, paths: rotated, closeEach: index >= keepAlive, timeout: requestTimeout,
                                         shared: shared, group: group)
                    }
                }
            }
        }
    }

    /// Requests sent from now on must be answered by the echo upstream `name` (nil: any), unless
    /// the expectation changes again before their response arrives (call it with nil before a
    /// reload starts: a request sent earlier may still be routed by the new configuration).
    public func expectUpstream(_ name: String?) {
        shared.state.withLockedValue {
            $0.expected = name
            $0.epoch += 1
        }
    }

    /// What happened so far.
    public var report: Report { shared.report.withLockedValue { $0 } }

    /// Lets requests in flight finish, closes the connections and returns the report.
    public func stop() async -> Report {
        shared.state.withLockedValue { $0.stopped = true }
        await runner.value
        try? await group.shutdownGracefully()
        return report
    }

    /// One connection slot: connect, run requests until the connection closes, reconnect.
    static func drive(port: Int, paths: [String], closeEach: Bool, timeout: TimeAmount, shared: Shared,
                      group: EventLoopGroup) async {
        var next = 0
        while !shared.isStopped {
            let handler = LoadConnectionHandler(paths: paths, start: next, closeEach: closeEach, timeout: timeout, shared: shared)
            do {
                let channel = try await ClientBootstrap(group: group)
                    .connectTimeout(.seconds(5))
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                    }
                    .connect(host: "127.0.0.1", port: port).get()
                shared.report.withLockedValue { $0.connects += 1 }
                try? await channel.closeFuture.get()
                next = handler.nextPath
            } catch {
                shared.fail({ $0.connectFailures += 1 }, "connect: \(error)")
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }
}

/// The upstream a request must reach, and the `expectUpstream` epoch it was sent in.
struct Expectation: Sendable {
    var upstream: String?
    var epoch: Int
}

/// Sends one request at a time on one connection and records each response.
final class LoadConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let paths: [String]
    let closeEach: Bool
    let timeout: TimeAmount
    let shared: LoadClient.Shared
    private var buffer: [UInt8] = []
    private var outstanding: (path: String, expected: Expectation)?
    private var timer: Scheduled<Void>?
    /// Where the next connection of this slot continues in `paths` (read after close).
    private(set) var nextPath: Int

    init(paths: [String], start: Int, closeEach: Bool, timeout: TimeAmount, shared: LoadClient.Shared) {
        self.paths = paths
        self.closeEach = closeEach
        self.timeout = timeout
        self.shared = shared
        nextPath = start
    }

    func channelActive(context: ChannelHandlerContext) { sendNext(context: context) }

    private func sendNext(context: ChannelHandlerContext) {
        guard let expected = shared.claim() else {
            context.close(promise: nil)
            return
        }
        let path = paths[nextPath % paths.count]
        nextPath += 1
        outstanding = (path, expected)
        let request = "GET \(path) HTTP/1.1\r\nhost: load\r\n" + (closeEach ? "connection: close\r\n" : "") + "\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard let request = outstanding else { return }
            outstanding = nil
            shared.fail({ $0.timeouts += 1 }, "\(request.path): no response within \(timeout)")
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += unwrapInboundIn(data).readableBytesView
        guard let request = outstanding, let response = WireResponse.parseAll(buffer, closed: false).first else { return }
        buffer.removeAll(keepingCapacity: true)
        outstanding = nil
        timer?.cancel()
        record(response, for: request)
        if closeEach || response.header("connection")?.lowercased() == "close" {
            context.close(promise: nil)
        } else {
            sendNext(context: context)
        }
    }

    private func record(_ response: WireResponse, for request: (path: String, expected: Expectation)) {
        let upstream = Self.upstreamName(response.bodyText)
        let wanted = request.expected.epoch == shared.epoch ? request.expected.upstream : nil
        let misrouted = wanted != nil && upstream != nil && upstream != wanted
        shared.report.withLockedValue { r in
            r.responses += 1
            r.statuses[response.status, default: 0] += 1
            if let upstream { r.upstreams[upstream, default: 0] += 1 }
            if misrouted { r.misrouted += 1 }
            if (misrouted || !(200..<300).contains(response.status)) && r.samples.count < 10 {
                r.samples.append("\(request.path): \(response.status) from \(upstream ?? "-") "
                    + "(expected \(wanted ?? "any")) \(response.bodyText.prefix(120))")
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if let request = outstanding {
            outstanding = nil
            let sample = "\(request.path): connection closed before the response (\(buffer.count) bytes)"
            shared.fail({ $0.brokenConnections += 1 }, sample)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let request = outstanding {
            outstanding = nil
            shared.fail({ $0.brokenConnections += 1 }, "\(request.path): \(error)")
        }
        context.close(promise: nil)
    }

    /// The `"name"` field of an echo reply.
    static func upstreamName(_ body: String) -> String? {
        guard let start = body.range(of: "\"name\":\"") else { return nil }
        let rest = body[start.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}
