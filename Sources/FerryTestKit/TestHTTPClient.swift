import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for tests and `ferry quickstart --check`: one request per
/// connection, whole response collected.
public struct TestHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: String

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

public enum TestHTTPClient {
    public static func request(host: String = "127.0.0.1", port: Int, method: String = "GET", path: String,
                               headers: [(String, String)] = [], body: String? = nil,
                               group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> TestHTTPResponse {
        let promise = group.next().makePromise(of: TestHTTPResponse.self)
        // Every way out fails the promise (a no-op once it is completed): a promise left
        // pending when the connect is refused is a fatal leak in debug builds.
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        var h = HTTPHeaders()
        h.add(name: "host", value: "\(host):\(port)")
        for (n, v) in headers { h.add(name: n, value: v) }
        if let body { h.add(name: "content-length", value: String(body.utf8.count)) }
        h.add(name: "connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: h)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil) }
        do {
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        } catch {
            promise.fail(error)
            try? await channel.close().get()
            throw error
        }
        let timeout = group.next().scheduleTask(in: .seconds(30)) { promise.fail(ChannelError.connectTimeout(.seconds(30))) }
        defer { timeout.cancel() }
        let response = try await promise.futureResult.get()
        try? await channel.close().get()
        return response
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<TestHTTPResponse>
        var response = TestHTTPResponse(status: 0, headers: [], body: "")

        init(promise: EventLoopPromise<TestHTTPResponse>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                response.status = Int(h.status.code)
                response.headers = h.headers.map { ($0.name, $0.value) }
            case .body(let b):
                response.body += String(buffer: b)
            case .end:
                promise.succeed(response)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
