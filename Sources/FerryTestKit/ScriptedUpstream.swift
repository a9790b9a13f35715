import Foundation
import NIOCore
import NIOPosix

/// A raw upstream that answers each request with scripted bytes, for responses an HTTP
/// library would not produce (close-delimited bodies, a close in the middle of a body) and
/// for upgrades (a 101, then every byte received is echoed back). Request bodies framed by
/// content-length are read and discarded; the script sees the request head as text.
public final class ScriptedUpstream: Sendable {
    public enum Reply: Sendable {
        /// Write these bytes, then close the connection when `close` is true.
        case bytes(String, close: Bool)
        /// Write these bytes (a 101 response, maybe followed by first tunnel bytes), then
        /// echo back every byte that arrives.
        case upgrade(String)
    }

    public let channel: Channel
    let log: HeadLog

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Request heads received so far, in order (request line and header lines, CRLF-separated).
    public var requestHeads: [String] { log.heads }

    final class HeadLog: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func append(_ head: String) { lock.withLock { stored.append(head) } }
        var heads: [String] { lock.withLock { stored } }
    }

    init(channel: Channel, log: HeadLog) {
        self.channel = channel
        self.log = log
    }

    public static func start(_ script: @escaping @Sendable (String) -> Reply) async throws -> ScriptedUpstream {
        let log = HeadLog()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(script: script, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedUpstream(channel: channel, log: log)
    }

    public func stop() async {
        try? await channel.close().get()
    }

    /// Starts an upstream with `script`, runs `body`, and stops it whatever happens.
    public static func with<T>(
        _ script: @escaping @Sendable (String) -> Reply,
        _ body: (ScriptedUpstream) async throws -> T
    ) async throws -> T {
        let upstream = try await start(script)
        return try await withCleanup { try await body(upstream) } cleanup: { await upstream.stop() }
    }
}

final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let script: @Sendable (String) -> ScriptedUpstream.Reply
    let log: ScriptedUpstream.HeadLog
    private var reader = RequestHeadReader()
    private var pendingReply: ScriptedUpstream.Reply?
    private var echoing = false

    init(script: @escaping @Sendable (String) -> ScriptedUpstream.Reply, log: ScriptedUpstream.HeadLog) {
        self.script = script
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if echoing {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            return
        }
        reader.append(bytes)
        process(context: context)
    }

    private func process(context: ChannelHandlerContext) {
        while !echoing {
            if let reply = pendingReply {
                guard reader.skipBody() else { return }
                pendingReply = nil
                if !send(reply, context: context) { return }
                continue
            }
            guard let head = reader.nextHead() else { return }
            log.append(head)
            pendingReply = script(head)
        }
    }

    /// Writes a reply; returns false when the connection is done with requests.
    private func send(_ reply: ScriptedUpstream.Reply, context: ChannelHandlerContext) -> Bool {
        switch reply {
        case .bytes(let text, let close):
            if close {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return false
            }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            return true
        case .upgrade(let text):
            echoing = true
            var out = ByteBuffer(string: text)
            // Bytes that followed the request head are tunnel bytes: echo them too.
            out.writeBytes(reader.takeRest())
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            return false
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
