import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A raw upstream that misbehaves on cue, for tests of what a proxy does with bad upstreams:
/// each request head gets a scripted `Fault` (bytes and keep the connection, bytes then a
/// FIN, bytes then an RST, or silence). It records every request head with the number of the
/// connection it arrived on, so a test can tell whether a broken connection was reused.
/// Request bodies framed by content-length are read and discarded.
public final class FaultyUpstream: Sendable {
    public enum Fault: Sendable {
        /// Write these bytes and keep the connection.
        case respond(String)
        /// Write these bytes, then close the connection (FIN).
        case respondThenClose(String)
        /// Write these bytes, then reset the connection (RST, through SO_LINGER 0).
        case respondThenReset(String)
        /// Never answer; keep the connection open.
        case silence
    }

    /// One request as the upstream saw it.
    public struct Request: Sendable {
        /// 1 for the first connection accepted, 2 for the second, ...
        public var connection: Int
        /// The request line and header lines, CRLF-separated.
        public var head: String
        /// The request target, e.g. `/framing`.
        public var path: String { String(head.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") }
    }

    let channel: Channel
    let log: Log

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Requests received so far, in order.
    public var requests: [Request] { log.requests }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [Request] = []
        private var connections = 0

        func nextConnection() -> Int {
            lock.withLock {
                connections += 1
                return connections
            }
        }
        func append(_ request: Request) { lock.withLock { stored.append(request) } }
        var requests: [Request] { lock.withLock { stored } }
    }

    init(channel: Channel, log: Log) {
        self.channel = channel
        self.log = log
    }

    /// Starts an upstream whose `script` picks the fault for each request head.
    public static func start(_ script: @escaping @Sendable (String) -> Fault) async throws -> FaultyUpstream {
        let log = Log()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = FaultyHandler(script: script, log: log, connection: log.nextConnection())
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FaultyUpstream(channel: channel, log: log)
    }

    public func stop() async {
        try? await channel.close().get()
    }

    /// Starts an upstream with `script`, runs `body`, and stops it whatever happens.
    public static func with<T>(
        _ script: @escaping @Sendable (String) -> Fault, _ body: (FaultyUpstream) async throws -> T
    ) async throws -> T {
        let upstream = try await start(script)
        return try await withCleanup { try await body(upstream) } cleanup: { await upstream.stop() }
    }
}

final class FaultyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let script: @Sendable (String) -> FaultyUpstream.Fault
    let log: FaultyUpstream.Log
    let connection: Int
    private var reader = RequestHeadReader()
    private var done = false

    init(script: @escaping @Sendable (String) -> FaultyUpstream.Fault, log: FaultyUpstream.Log, connection: Int) {
        self.script = script
        self.log = log
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        reader.append(unwrapInboundIn(data))
        while !done {
            guard reader.skipBody(), let head = reader.nextHead() else { return }
            log.append(.init(connection: connection, head: head))
            act(script(head), context: context)
        }
    }

    private func act(_ fault: FaultyUpstream.Fault, context: ChannelHandlerContext) {
        switch fault {
        case .respond(let text):
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
        case .respondThenClose(let text):
            done = true
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .respondThenReset(let text):
            done = true
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
                // Give the bytes a moment to leave, so the peer reads them before the RST.
                channel.eventLoop.scheduleTask(in: .milliseconds(50)) {
                    let provider = channel as? SocketOptionProvider
                    let linger =
                        provider?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                        ?? channel.eventLoop.makeSucceededVoidFuture()
                    linger.whenComplete { _ in channel.close(promise: nil) }
                }
            }
        case .silence:
            done = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
