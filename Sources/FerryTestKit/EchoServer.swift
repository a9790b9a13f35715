import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small upstream for trying routes, like httpbin: answers with JSON describing the request
/// and its own name. `/status/{code}`, `/delay/{ms}`, `/bytes/{n}` and `/stream/{n}` shape the
/// response; request bodies are counted and discarded, so any upload size is fine.
public final class EchoServer: Sendable {
    public let name: String
    public let channel: Channel
    let group: EventLoopGroup
    let ownsGroup: Bool
    private let stopped = NIOLockedValueBox(false)

    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Binds on `host:port` (port 0 = any free port).
    /// `delay` holds every answer back by that long (a slow endpoint for load-balancing tests).
    public static func start(name: String, host: String = "127.0.0.1", port: Int = 0, group: EventLoopGroup? = nil,
                             delay: TimeAmount = .zero) async throws -> EchoServer {
        let owned = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(name: name, delay: delay))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return EchoServer(name: name, channel: channel, group: group, ownsGroup: owned)
        } catch {
            if owned { try? await group.shutdownGracefully() }
            throw error
        }
    }

    init(name: String, channel: Channel, group: EventLoopGroup, ownsGroup: Bool) {
        self.name = name
        self.channel = channel
        self.group = group
        self.ownsGroup = ownsGroup
    }

    /// Closes the listener (and the group it owns). A second call does nothing: a test may stop
    /// an upstream halfway and its cleanup stop it again.
    public func stop() async {
        let first = stopped.withLockedValue { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? await channel.close().get()
        if ownsGroup { try? await group.shutdownGracefully() }
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let name: String
    let delay: TimeAmount
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var streaming: (remaining: Int, keepAlive: Bool)?
    private var context: ChannelHandlerContext?

    init(name: String, delay: TimeAmount = .zero) {
        self.name = name
        self.delay = delay
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    // The context holds this handler: drop it when the pipeline does, or both leak.
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
        case .end:
            guard let head else { return }
            self.head = nil
            if delay > .zero {
                context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in respond(to: head, context: context) }
            } else {
                respond(to: head, context: context)
            }
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let parts = path.split(separator: "/")
        let keepAlive = head.isKeepAlive
        if parts.count == 2, let n = Int(parts[1]), n >= 0 {
            switch parts[0] {
            case "status" where (100...599).contains(n):
                return send(status: HTTPResponseStatus(statusCode: n), json: describe(head), keepAlive: keepAlive, context: context)
            case "delay":
                let body = describe(head)
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(min(n, 600_000)))) { [self] in
                    send(status: .ok, json: body, keepAlive: keepAlive, context: context)
                }
                return
            case "bytes":
                return startBytes(n, keepAlive: keepAlive, context: context)
            case "stream":
                return stream(lines: min(n, 100_000), head: head, keepAlive: keepAlive, context: context)
            default:
                break
            }
        }
        send(status: .ok, json: describe(head), keepAlive: keepAlive, context: context)
    }

    private func describe(_ head: HTTPRequestHead) -> String {
        let headers = head.headers.map { "[\(quote($0.name)),\(quote($0.value))]" }.joined(separator: ",")
        return """
        {"name":\(quote(name)),"method":\(quote(head.method.rawValue)),"path":\(quote(head.uri)),"version":"\(head.version)",\
        "headers":[\(headers)],"body_bytes":\(bodyBytes)}

        """
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 { out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16) } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private func send(status: HTTPResponseStatus, json: String, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(json.utf8.count))
        headers.add(name: "x-echo-name", value: name)
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: json)))), promise: nil)
        finish(keepAlive: keepAlive, context: context)
    }

    private func finish(keepAlive: Bool, context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
        if !keepAlive { promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    /// `/bytes/{n}`: n bytes of 'x' with content-length, written as the socket drains.
    private func startBytes(_ n: Int, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/octet-stream")
        headers.add(name: "content-length", value: String(n))
        headers.add(name: "x-echo-name", value: name)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        streaming = (n, keepAlive)
        pump(context: context)
    }

    private static let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)

    private func pump(context: ChannelHandlerContext) {
        while var state = streaming, context.channel.isWritable {
            if state.remaining == 0 {
                streaming = nil
                finish(keepAlive: state.keepAlive, context: context)
                return
            }
            let n = min(state.remaining, Self.chunk.readableBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(Self.chunk.getSlice(at: 0, length: n)!))), promise: nil)
            state.remaining -= n
            streaming = state
        }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if streaming != nil && context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// `/stream/{n}`: n JSON lines, chunked.
    private func stream(lines n: Int, head: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "transfer-encoding", value: "chunked")
        headers.add(name: "x-echo-name", value: name)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        for i in 0..<n {
            let line = "{\"id\":\(i),\"name\":\(quote(name)),\"path\":\(quote(head.uri))}\n"
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: line)))), promise: nil)
            if i % 64 == 63 { context.flush() }
        }
        finish(keepAlive: keepAlive, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
