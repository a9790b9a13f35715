import Foundation
import NIOCore
import NIOPosix

/// An HTTP/1.1 upstream that fails on cue, for retry and timeout tests: the n-th request it
/// receives (counted across all its connections, from 1) gets the n-th scripted `Action`
/// (the last one repeats). It records every request (head and body size) and how many
/// connections were opened and closed, so a test can tell what each attempt looked like.
///
/// ```swift
/// try await FlakyUpstream.with([.respond(503), .respond(200)]) { upstream in
///     // the first attempt gets a 503, every later one a 200
/// }
/// ```
public final class FlakyUpstream: Sendable {
    public enum Action: Sendable {
        /// A complete response with a content-length body (`headers` are added as given).
        case respond(Int, headers: [String: String] = [:], body: String = "")
        /// Close the connection without answering (a reset before response headers).
        case close
        /// Never answer; the connection stays open until the proxy gives up or the test ends.
        case hang
        /// Wait, then do `action` (an upstream that answers slowly).
        indirect case after(Duration, Action)

        /// Shorthand for `.respond(status)`.
        public static func status(_ code: Int) -> Action { .respond(code) }
    }

    /// One request as the upstream received it.
    public struct Request: Sendable {
        /// 1-based, across all connections.
        public let number: Int
        /// Request line and header lines, CRLF-separated.
        public let head: String
        public let bodyBytes: Int

        /// The first value of header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            for line in head.components(separatedBy: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }

        public var path: String {
            let parts = head.prefix(while: { $0 != "\r" }).split(separator: " ")
            return parts.count > 1 ? String(parts[1]) : ""
        }
    }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [Request] = []
        private var opened = 0
        private var closed = 0

        func record(head: String, bodyBytes: Int) -> Request {
            lock.withLock {
                let request = Request(number: stored.count + 1, head: head, bodyBytes: bodyBytes)
                stored.append(request)
                return request
            }
        }
        func connectionOpened() { lock.withLock { opened += 1 } }
        func connectionClosed() { lock.withLock { closed += 1 } }
        var requests: [Request] { lock.withLock { stored } }
        var counts: (opened: Int, closed: Int) { lock.withLock { (opened, closed) } }
    }

    public let name: String
    public let channel: Channel
    let log: Log

    public var port: Int { channel.localAddress?.port ?? 0 }
    /// Requests received so far, in order.
    public var requests: [Request] { log.requests }
    public var requestCount: Int { log.requests.count }
    /// Values of header `name` in each request received so far, in order ("" when absent).
    public func headerValues(_ name: String) -> [String] { requests.map { $0.header(name) ?? "" } }
    public var connectionsOpened: Int { log.counts.opened }
    public var connectionsClosed: Int { log.counts.closed }

    init(name: String, channel: Channel, log: Log) {
        self.name = name
        self.channel = channel
        self.log = log
    }

    /// Starts an upstream whose n-th request gets `script(request)`.
    public static func start(name: String = "flaky", _ script: @escaping @Sendable (Request) -> Action) async throws
        -> FlakyUpstream
    {
        let log = Log()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FlakyHandler(name: name, script: script, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FlakyUpstream(name: name, channel: channel, log: log)
    }

    /// Starts an upstream whose n-th request gets `actions[n-1]` (the last action repeats).
    public static func start(name: String = "flaky", _ actions: [Action]) async throws -> FlakyUpstream {
        precondition(!actions.isEmpty)
        return try await start(name: name) { request in actions[min(request.number, actions.count) - 1] }
    }

    public func stop() async {
        try? await channel.close().get()
    }

    /// Waits (at most `timeout`) until `condition` holds for this upstream; returns whether it did.
    public func wait(timeout: Duration = .seconds(5), until condition: (FlakyUpstream) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }

    /// Starts upstreams with `scripts` (one upstream per script, named "u1", "u2", ...), runs
    /// `body`, and stops them whatever happens.
    public static func withEach<T>(
        _ scripts: [[Action]], _ body: ([FlakyUpstream]) async throws -> T
    ) async throws -> T {
        var upstreams: [FlakyUpstream] = []
        return try await withCleanup {
            for (i, actions) in scripts.enumerated() { upstreams.append(try await start(name: "u\(i + 1)", actions)) }
            return try await body(upstreams)
        } cleanup: {
            for u in upstreams { await u.stop() }
        }
    }

    /// One upstream with `actions`; see `withEach(_:_:)`.
    public static func with<T>(_ actions: [Action], _ body: (FlakyUpstream) async throws -> T) async throws -> T {
        try await withEach([actions]) { try await body($0[0]) }
    }
}

final class FlakyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let name: String
    let script: @Sendable (FlakyUpstream.Request) -> FlakyUpstream.Action
    let log: FlakyUpstream.Log
    private var buffer: [UInt8] = []
    /// Set while a request is being answered (or never will be): later bytes wait.
    private var busy = false

    init(name: String, script: @escaping @Sendable (FlakyUpstream.Request) -> FlakyUpstream.Action, log: FlakyUpstream.Log) {
        self.name = name
        self.script = script
        self.log = log
    }

    func channelActive(context: ChannelHandlerContext) {
        log.connectionOpened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        log.connectionClosed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += unwrapInboundIn(data).readableBytesView
        process(context: context)
    }

    private func process(context: ChannelHandlerContext) {
        guard !busy, let (head, bodyBytes, consumed) = Self.parseRequest(buffer) else { return }
        buffer.removeFirst(consumed)
        busy = true
        let request = log.record(head: head, bodyBytes: bodyBytes)
        perform(script(request), request: request, context: context)
    }

    private func perform(_ action: FlakyUpstream.Action, request: FlakyUpstream.Request, context: ChannelHandlerContext) {
        switch action {
        case .respond(let status, let headers, let body):
            var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\ncontent-length: \(body.utf8.count)\r\n"
            text += "x-upstream: \(name)\r\nx-upstream-request: \(request.number)\r\n"
            for (key, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(key): \(value)\r\n" }
            text += "\r\n" + body
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            busy = false
            process(context: context)
        case .close:
            context.close(promise: nil)
        case .hang:
            break
        case .after(let delay, let next):
            let (seconds, attoseconds) = delay.components
            let nanos = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .nanoseconds(nanos)) {
                let (handler, context) = loopBound.value
                guard context.channel.isActive else { return }
                handler.perform(next, request: request, context: context)
            }
        }
    }

    /// A complete request at the start of `bytes`: head text, body size and bytes used
    /// (content-length or chunked bodies); nil while incomplete.
    static func parseRequest(_ bytes: [UInt8]) -> (String, Int, Int)? {
        guard let end = WireResponse.find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var start = end + 4
        let lines = head.components(separatedBy: "\r\n").dropFirst().map { $0.lowercased() }
        if lines.contains(where: { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }) {
            var total = 0
            while true {
                guard let lineEnd = WireResponse.find([13, 10], in: bytes, from: start) else { return nil }
                let sizeText = String(decoding: bytes[start..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                start = lineEnd + 2
                if size == 0 {
                    // Trailers (if any) end with an empty line.
                    while true {
                        guard let e = WireResponse.find([13, 10], in: bytes, from: start) else { return nil }
                        let empty = e == start
                        start = e + 2
                        if empty { return (head, total, start) }
                    }
                }
                guard bytes.count >= start + size + 2 else { return nil }
                total += size
                start += size + 2
            }
        }
        var length = 0
        for line in lines where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard bytes.count >= start + length else { return nil }
        return (head, length, start + length)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 404: "Not Found"
        case 409: "Conflict"
        case 418: "I'm a teapot"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
