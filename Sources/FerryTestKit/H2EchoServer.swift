import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// An HTTP/2 cleartext (prior knowledge) upstream like `EchoServer`: answers every stream with
/// JSON naming the protocol it saw (`HTTP/2`), `:authority`, method, path, headers, the body
/// size, the request's trailers, and which connection (`connection`, numbered from 1) and stream carried it, so tests
/// can tell streams from connections. Scriptable: a delay, a status, trailers, GOAWAY after N
/// streams on a connection (or GOAWAY with streams in flight past its last one), a SETTINGS_MAX_CONCURRENT_STREAMS, REFUSED_STREAM for the first N
/// streams, and request bodies left unread (flow-control tests).
public final class H2EchoServer: Sendable {
    public struct Options: Sendable {
        public var delay: TimeAmount = .zero
        public var status = 200
        public var trailers: [(String, String)] = []
        /// After this many streams on one connection, send GOAWAY naming the last one; later
        /// streams on that connection get no answer.
        public var goAwayAfter: Int?
        /// The first connection answers its first stream (a client's first is stream 1), leaves
        /// the later ones unanswered, and once this many streams have arrived on it sends GOAWAY
        /// naming stream 1: however
        /// slowly a test's clients start, every stream but the first is in flight past the
        /// GOAWAY's last stream. Later connections answer every stream.
        public var goAwayFirstConnectionAtStreams: Int?
        public var maxConcurrentStreams: Int?
        /// The first N streams (over all connections) are reset with REFUSED_STREAM.
        public var refuseFirst = 0
        /// Request bodies are not read until `startReading()`.
        public var stallBodies = false
        public init() {}
    }

    struct State {
        var connections = 0
        var streams = 0
        var streamsPerConnection: [Int: Int] = [:]
        var maxOpenStreams: [Int: Int] = [:]
        var openStreams: [Int: Int] = [:]
        var bodyBytes = 0
        var stalled: [Channel] = []
        var reading = false
        var authorities: [String] = []
        var connectionChannels: [Channel] = []
    }

    public let channel: Channel
    let group: EventLoopGroup
    let options: Options
    let state = NIOLockedValueBox(State())

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var connections: Int { state.withLockedValue { $0.connections } }
    public var streams: Int { state.withLockedValue { $0.streams } }
    /// Streams each connection carried, by connection number.
    public var streamsPerConnection: [Int: Int] { state.withLockedValue { $0.streamsPerConnection } }
    /// The most streams one connection had open at once.
    public var maxOpenStreamsOnAConnection: Int { state.withLockedValue { $0.maxOpenStreams.values.max() ?? 0 } }
    /// Request body bytes read so far (all streams).
    public var bodyBytesReceived: Int { state.withLockedValue { $0.bodyBytes } }

    public static func start(_ options: Options = Options()) async throws -> H2EchoServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = NIOLockedValueBox<H2EchoServer?>(nil)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let server = box.withLockedValue({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    try server.configure(channel)
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        let server = H2EchoServer(channel: channel, group: group, options: options)
        box.withLockedValue { $0 = server }
        return server
    }

    init(channel: Channel, group: EventLoopGroup, options: Options) {
        self.channel = channel
        self.group = group
        self.options = options
    }

    private func configure(_ channel: Channel) throws {
        let id = state.withLockedValue { state -> Int in
            state.connections += 1
            state.connectionChannels.append(channel)
            return state.connections
        }
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        if let max = options.maxConcurrentStreams {
            connection.initialSettings = nioDefaultSettings.filter { $0.parameter != .maxConcurrentStreams }
                + [HTTP2Setting(parameter: .maxConcurrentStreams, value: max)]
        }
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: .init()
        ) { [self] stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(H2EchoHandler(server: self, connection: id))
            }
        }
    }

    /// Sends GOAWAY naming `lastStreamID` on every open connection now, below the codec (as
    /// `goAwayAfter` does); returns once it is written to the sockets.
    public func sendGoAway(lastStreamID: Int) async throws {
        let channels = state.withLockedValue { $0.connectionChannels.filter(\.isActive) }
        for channel in channels {
            let frame = Self.goAwayFrame(channel.allocator, lastStreamID: lastStreamID)
            try await channel.eventLoop.flatSubmit {
                guard let codec = try? channel.pipeline.syncOperations.context(handlerType: NIOHTTP2Handler.self) else {
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                let promise = channel.eventLoop.makePromise(of: Void.self)
                codec.writeAndFlush(NIOAny(frame), promise: promise)
                return promise.futureResult
            }.get()
        }
    }

    /// GOAWAY(last stream = `lastStreamID`, NO_ERROR) as bytes for the wire.
    static func goAwayFrame(_ allocator: ByteBufferAllocator, lastStreamID: Int) -> ByteBuffer {
        var frame = allocator.buffer(capacity: 17)
        frame.writeBytes([0, 0, 8, 0x7, 0, 0, 0, 0, 0])  // length 8, GOAWAY, no flags, stream 0
        frame.writeInteger(UInt32(lastStreamID))
        frame.writeInteger(UInt32(0))  // NO_ERROR
        return frame
    }

    /// Reads the stalled request bodies from now on.
    public func startReading() {
        let stalled = state.withLockedValue { state -> [Channel] in
            state.reading = true
            defer { state.stalled = [] }
            return state.stalled
        }
        for channel in stalled {
            channel.eventLoop.execute {
                channel.setOption(.autoRead, value: true).whenComplete { _ in channel.read() }
            }
        }
    }

    public func stop() async {
        try? await channel.close().get()
        try? await group.shutdownGracefully()
    }

    /// Starts a server, runs `body`, stops the server whether `body` succeeds or throws.
    public static func with<T>(_ options: Options = Options(), _ body: (H2EchoServer) async throws -> T) async throws -> T {
        let server = try await start(options)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

/// One stream of `H2EchoServer`.
final class H2EchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    let server: H2EchoServer
    let connection: Int
    private var headers = HPACKHeaders()
    /// A second HEADERS block from the client: the request's trailers.
    private var trailers = HPACKHeaders()
    private var bodyBytes = 0
    private var streamNumber = 0
    private var refused = false
    private var silent = false

    init(server: H2EchoServer, connection: Int) {
        self.server = server
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let options = server.options
        let (number, refuse, stall) = server.state.withLockedValue { state -> (Int, Bool, Bool) in
            state.streams += 1
            state.streamsPerConnection[connection, default: 0] += 1
            state.openStreams[connection, default: 0] += 1
            state.maxOpenStreams[connection] = max(state.maxOpenStreams[connection] ?? 0, state.openStreams[connection]!)
            let stall = options.stallBodies && !state.reading
            if stall { state.stalled.append(context.channel) }
            return (state.streamsPerConnection[connection]!, state.streams <= options.refuseFirst, stall)
        }
        streamNumber = number
        refused = refuse
        if stall { context.channel.setOption(.autoRead, value: false).whenComplete { _ in } }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        server.state.withLockedValue { $0.openStreams[connection, default: 1] -= 1 }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let block):
            if headers.isEmpty {
                headers = block.headers
                if refused {
                    context.writeAndFlush(wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
                    return
                }
                let options = server.options
                if let after = options.goAwayAfter, streamNumber == after,
                   let id = try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID) {
                    sendGoAway(context: context, lastStreamID: id)
                }
                if let at = options.goAwayFirstConnectionAtStreams, connection == 1, streamNumber == at {
                    sendGoAway(context: context, lastStreamID: 1)
                }
                let lastProcessed = connection == 1 && options.goAwayFirstConnectionAtStreams != nil ? 1 : options.goAwayAfter
                if let lastProcessed, streamNumber > lastProcessed {
                    // Past the GOAWAY's last stream: unprocessed, as a real server leaves it.
                    silent = true
                    return
                }
            } else {
                trailers = block.headers
            }
            if block.endStream { respond(context: context) }
        case .data(let data):
            if case .byteBuffer(let buffer) = data.data {
                bodyBytes += buffer.readableBytes
                server.state.withLockedValue { $0.bodyBytes += buffer.readableBytes }
            }
            if data.endStream { respond(context: context) }
        default:
            break
        }
    }

    /// Writes GOAWAY(last stream = `lastStreamID`) straight to the socket, below the codec, so
    /// the server's own codec does not reset the later streams (a real server just ignores them).
    private func sendGoAway(context: ChannelHandlerContext, lastStreamID: HTTP2StreamID) {
        guard let codec = try? context.channel.parent?.pipeline.syncOperations.context(handlerType: NIOHTTP2Handler.self)
        else { return }
        let frame = H2EchoServer.goAwayFrame(context.channel.allocator, lastStreamID: Int(Int32(lastStreamID)))
        codec.writeAndFlush(NIOAny(frame), promise: nil)
    }

    /// How a field was sent (RFC 7541 §6): into the dynamic table (or from it), as a literal
    /// left out of it, or as a literal every later hop must leave out of it.
    private static func representation(_ indexing: HPACKIndexing) -> String {
        switch indexing {
        case .indexable: "indexed"
        case .nonIndexable: "not-indexed"
        case .neverIndexed: "never-indexed"
        }
    }

    private func respond(context: ChannelHandlerContext) {
        guard !refused, !silent else { return }
        let options = server.options
        let authority = headers.first(name: ":authority") ?? ""
        server.state.withLockedValue { $0.authorities.append(authority) }
        let fields = headers.filter { !$0.name.hasPrefix(":") }.map { [$0.name, $0.value] }
        let object: [String: Any] = [
            "protocol": "HTTP/2", "authority": authority, "method": headers.first(name: ":method") ?? "",
            "path": headers.first(name: ":path") ?? "", "scheme": headers.first(name: ":scheme") ?? "",
            "headers": fields, "body_bytes": bodyBytes, "connection": connection, "stream": streamNumber,
            "trailers": trailers.map { [$0.name, $0.value] },
            "indexing": headers.map { [$0.name, Self.representation($0.indexable)] },
        ]
        let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        let send = {
            let body = context.channel.allocator.buffer(bytes: json)
            let head = HPACKHeaders([(":status", String(options.status)), ("content-type", "application/json"),
                                     ("content-length", String(body.readableBytes))])
            context.write(self.wrapOutboundOut(.headers(.init(headers: head))), promise: nil)
            let withTrailers = !options.trailers.isEmpty
            context.write(self.wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: !withTrailers))), promise: nil)
            if withTrailers {
                context.write(self.wrapOutboundOut(.headers(.init(headers: HPACKHeaders(options.trailers), endStream: true))), promise: nil)
            }
            context.flush()
        }
        if options.delay > .zero {
            let bound = NIOLoopBound(send, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: options.delay) { bound.value() }
        } else {
            send()
        }
    }
}

/// The JSON body `H2EchoServer` answers with.
public struct H2EchoReply: Decodable, Sendable {
    public var `protocol`: String
    public var authority: String
    public var method: String
    public var path: String
    public var scheme: String
    public var headers: [[String]]
    public var bodyBytes: Int
    public var connection: Int
    public var stream: Int
    /// Each field of the request's HEADERS block, pseudo-headers included, with how it was
    /// encoded: "indexed", "not-indexed" or "never-indexed".
    public var indexing: [[String]]

    enum CodingKeys: String, CodingKey {
        case `protocol`, authority, method, path, scheme, headers, connection, stream, indexing
        case bodyBytes = "body_bytes"
    }

    public init(_ body: String) throws {
        self = try JSONDecoder().decode(H2EchoReply.self, from: Data(body.utf8))
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.count == 2 && $0[0] == name.lowercased() }?[1]
    }

    /// How the first field called `name` was encoded ("indexed", "not-indexed", "never-indexed").
    public func representation(of name: String) -> String? {
        indexing.first { $0.count == 2 && $0[0] == name }?[1]
    }
}
