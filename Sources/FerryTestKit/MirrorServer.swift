import NIOCore
import NIOHTTP1
import NIOPosix

/// An upstream that answers every request with 200 and the request body, byte for byte
/// (content-length framed), so tests can check that a body crossed the proxy intact. The
/// headers `x-mirror-transfer-encoding` and `x-mirror-content-length` report the framing the
/// request arrived with ("-" when absent). Bodies are held in memory: keep them small.
public final class MirrorServer: Sendable {
    public let channel: Channel

    public var port: Int { channel.localAddress?.port ?? 0 }

    init(channel: Channel) { self.channel = channel }

    public static func start() async throws -> MirrorServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MirrorHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return MirrorServer(channel: channel)
    }

    public func stop() async {
        try? await channel.close().get()
    }

    /// Starts a mirror, runs `body`, and stops it whatever happens.
    public static func with<T>(_ body: (MirrorServer) async throws -> T) async throws -> T {
        let mirror = try await start()
        return try await withCleanup { try await body(mirror) } cleanup: { await mirror.stop() }
    }
}

final class MirrorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
        case .body(var b):
            body.writeBuffer(&b)
        case .end:
            guard let head else { return }
            self.head = nil
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: String(body.readableBytes))
            headers.add(name: "x-mirror-transfer-encoding", value: head.headers.first(name: "transfer-encoding") ?? "-")
            headers.add(name: "x-mirror-content-length", value: head.headers.first(name: "content-length") ?? "-")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil
            )
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
