import Foundation
import NIOCore
import NIOPosix

/// A plain TCP upstream on loopback for tcp_proxy tests. `echo` sends every byte back and
/// answers a FIN with its own once the echo is written; `hold` accepts but reads nothing until
/// `startReading()` (a stalled peer, for backpressure); `close` closes each connection at once.
/// It counts connections and the bytes it read.
public final class TCPTestServer: Sendable {
    public enum Mode: Sendable { case echo, hold, close }

    public let port: Int
    let channel: Channel
    let state: State

    final class State: @unchecked Sendable {
        private let lock = NSLock()
        private var accepted = 0
        private var received = 0
        private var held: [Channel] = []
        private var reading = false

        func connected(_ channel: Channel, holding: Bool) -> Bool {
            lock.withLock {
                accepted += 1
                if holding && !reading { held.append(channel) }
                return holding && !reading
            }
        }

        func read(_ count: Int) { lock.withLock { received += count } }

        func release() -> [Channel] {
            lock.withLock {
                reading = true
                defer { held = [] }
                return held
            }
        }

        var counts: (connections: Int, bytes: Int) { lock.withLock { (accepted, received) } }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let mode: Mode
        let state: State

        init(mode: Mode, state: State) {
            self.mode = mode
            self.state = state
        }

        func channelActive(context: ChannelHandlerContext) {
            if mode == .close { context.close(promise: nil) }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            state.read(bytes.readableBytes)
            if mode == .echo { context.write(wrapOutboundOut(bytes), promise: nil) }
        }

        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case ChannelEvent.inputClosed = event else { return }
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    init(port: Int, channel: Channel, state: State) {
        self.port = port
        self.channel = channel
        self.state = state
    }

    public static func start(_ mode: Mode = .echo) async throws -> TCPTestServer {
        let state = State()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if state.connected(channel, holding: mode == .hold) {
                        try channel.syncOptions?.setOption(.autoRead, value: false)
                    }
                    try channel.pipeline.syncOperations.addHandler(Handler(mode: mode, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TCPTestServer(port: channel.localAddress?.port ?? 0, channel: channel, state: state)
    }

    /// Connections accepted so far.
    public var connections: Int { state.counts.connections }
    /// Bytes read from all connections so far.
    public var bytesReceived: Int { state.counts.bytes }

    /// A `hold` server starts reading its connections (and new ones are read at once).
    public func startReading() {
        for channel in state.release() {
            channel.eventLoop.execute {
                try? channel.syncOptions?.setOption(.autoRead, value: true)
                channel.read()
            }
        }
    }

    public func stop() async {
        try? await channel.close().get()
    }

    /// Starts a server, runs `body`, and stops it whatever happens.
    public static func with<T>(_ mode: Mode = .echo, _ body: (TCPTestServer) async throws -> T) async throws -> T {
        let server = try await start(mode)
        return try await withCleanup { try await body(server) } cleanup: { await server.stop() }
    }
}
