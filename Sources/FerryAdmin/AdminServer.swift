import FerryProxy
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// One admin request, already read in full (admin requests are small).
public struct AdminRequest: Sendable {
    public var method: HTTPMethod
    public var path: String
    public var query: [String: String]
    public var body: String

    init(head: HTTPRequestHead, body: String) {
        method = head.method
        let uri = head.uri
        if let q = uri.firstIndex(of: "?") {
            path = String(uri[..<q])
            query = AdminRequest.parseQuery(String(uri[uri.index(after: q)...]))
        } else {
            path = uri
            query = [:]
        }
        self.body = body
    }

    static func parseQuery(_ q: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in q.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = percentDecode(String(parts[0]))
            result[key] = parts.count > 1 ? percentDecode(String(parts[1])) : ""
        }
        return result
    }

    static func percentDecode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") { bytes.append(0x20) } else if b == UInt8(ascii: "%"), it.count >= 2,
               let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

public struct AdminResponse: Sendable, Error {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: String

    public init(_ status: HTTPResponseStatus, contentType: String = "text/plain; charset=UTF-8", _ body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(_ body: String) { self.init(.ok, body) }

    public init(contentType: String, _ body: String) { self.init(.ok, contentType: contentType, body) }

    static func json(_ body: String, status: HTTPResponseStatus = .ok) -> AdminResponse {
        AdminResponse(status, contentType: "application/json", body)
    }
}

/// The admin HTTP server (Envoy's admin API paths) on its own event loop, so admin traffic
/// never competes with the worker loops.
public final class AdminServer: Sendable {
    public let channel: Channel
    let group: MultiThreadedEventLoopGroup

    public var address: SocketAddress? { channel.localAddress }

    public static func start(host: String, port: Int, admin: AdminAPI) async throws -> AdminServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(admin: admin))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return AdminServer(channel: channel, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    init(channel: Channel, group: MultiThreadedEventLoopGroup) {
        self.channel = channel
        self.group = group
    }

    public func shutdown() async {
        try? await channel.close().get()
        try? await group.shutdownGracefully()
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let admin: AdminAPI
    private var head: HTTPRequestHead?
    private var body = ""

    init(admin: AdminAPI) { self.admin = admin }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = ""
        case .body(let b):
            if body.utf8.count < 1 << 20 { body += String(buffer: b) }
        case .end:
            guard let head else { return }
            self.head = nil
            let request = AdminRequest(head: head, body: body)
            let keepAlive = head.isKeepAlive
            let admin = self.admin
            let future = context.eventLoop.makeFutureWithTask { await admin.handle(request) }
            future.assumeIsolated().whenSuccess { response in
                if let events = response.events, response.response.status == .ok, head.method == .GET {
                    return self.stream(events, response: response.response, head: head, context: context)
                }
                self.write(response, keepAlive: keepAlive, head: head, context: context)
                if let after = response.afterSend { after() }
            }
        }
    }

    /// Server-sent events: the head, then one chunk per event until the count is reached or
    /// the client closes the connection (which ends the stream; the connection is not reused).
    private func stream(_ events: EventStream, response: AdminResponse, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "cache-control", value: "no-cache")
        headers.add(name: "x-content-type-options", value: "nosniff")
        headers.add(name: "connection", value: "close")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        let loop = context.eventLoop
        let channel = context.channel
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        func emit(_ sent: Int) {
            guard channel.isActive else { return }
            loop.makeFutureWithTask { await events.next() }.assumeIsolated().whenSuccess { text in
                guard channel.isActive else { return }
                let (handler, context) = bound.value
                let sent = sent + 1
                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                if let count = events.count, sent >= count {
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                        context.close(promise: nil)
                    }
                    return
                }
                loop.assumeIsolated().scheduleTask(in: events.interval) { emit(sent) }
            }
        }
        emit(0)
    }

    private func write(_ response: AdminAPI.Result, keepAlive: Bool, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.response.contentType)
        headers.add(name: "cache-control", value: "no-cache, max-age=0")
        headers.add(name: "x-content-type-options", value: "nosniff")
        headers.add(name: "content-length", value: String(response.response.body.utf8.count))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        var responseHead = HTTPResponseHead(version: head.version, status: response.response.status, headers: headers)
        responseHead.headers = headers
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: response.response.body)))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive { done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
