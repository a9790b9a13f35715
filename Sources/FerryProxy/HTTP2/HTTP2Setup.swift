import FerryConfig
import NIOCore
import NIOHTTP2

/// Puts a downstream connection's HTTP/2 pipeline together: `DownstreamHTTP2Connection` (bytes,
/// stats, drain), `HTTP2FloodGuard` (Envoy's flood limits), `NIOHTTP2Handler` (frames, HPACK,
/// the connection state machine), `HTTP2KeepaliveHandler`, and `DownstreamHTTP2Session` (one
/// `DownstreamHTTP2Stream` per stream, idle close, graceful GOAWAY), all configured from
/// `http2_protocol_options`.
enum HTTP2Setup {
    static func install(on channel: Channel, worker: Worker, listener: CompiledListener, chain: CompiledFilterChain,
                        hcm: CompiledHCM, tls: DownstreamTLSInfo?) throws {
        let options = hcm.config.http2Options
        let connection = DownstreamHTTP2Connection(worker: worker, listener: listener, chain: chain, hcm: hcm, tls: tls)
        let session = DownstreamHTTP2Session(connection: connection, connectionWindow: Int(options.initialConnectionWindowSize),
                                             streamWindow: Int(options.initialStreamWindowSize),
                                             extendedConnect: options.allowConnect,
                                             streamErrorOnInvalid: options.streamErrorOnInvalidHTTPMessaging,
                                             idleTimeout: hcm.idleTimeout, drainTimeout: hcm.drainTimeout)
        // Without a stream multiplexer: the session handles every stream's frames itself.
        let http2 = NIOHTTP2Handler(mode: .server, frameDelegate: session,
                                    connectionConfiguration: connectionConfiguration(options, hcm: hcm),
                                    // Stream windows and send watermarks are the session's.
                                    streamConfiguration: .init())
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(connection)
        try pipeline.addHandler(HTTP2FloodGuard(limits: .init(options), isServer: true) { flood in connection.countFlood(flood) })
        try pipeline.addHandler(http2)
        if let keepalive = options.keepalive {
            try pipeline.addHandler(HTTP2KeepaliveHandler(keepalive) { connection.countKeepaliveTimeout() })
        }
        try pipeline.addHandler(session)
    }

    static func connectionConfiguration(_ options: Http2ProtocolOptions, hcm: CompiledHCM) -> NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: Int(options.maxConcurrentStreams)),
            HTTP2Setting(parameter: .headerTableSize, value: Int(options.hpackTableSize)),
            HTTP2Setting(parameter: .initialWindowSize, value: Int(options.initialStreamWindowSize)),
            HTTP2Setting(parameter: .maxHeaderListSize, value: Int(hcm.config.maxRequestHeadersKb) * 1024),
        ]
        if options.allowConnect { configuration.initialSettings.append(HTTP2Setting(parameter: .enableConnectProtocol, value: 1)) }
        // The session checks request blocks (`HTTP2HeaderMapping.request`) and request body
        // lengths (`DownstreamHTTP2Stream`) itself, in the pass that reads them; NIOHTTP2's
        // checks would walk every request and response block again.
        configuration.headerBlockValidation = .disabled
        configuration.contentLengthValidation = .disabled
        configuration.maximumBufferedControlFrames = Int(options.maxOutboundControlFrames)
        configuration.maximumSequentialEmptyDataFrames = Int(options.maxConsecutiveInboundFramesWithEmptyPayload)
        return configuration
    }
}

/// `codec_type: AUTO` on plaintext: holds the first bytes until they either are the HTTP/2
/// connection preface (prior knowledge, h2c) or cannot be, then installs that codec, hands it
/// the bytes and leaves. An HTTP/1 request differs from the preface in its first bytes.
final class HTTPCodecSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let install: (Bool) throws -> Void
    private var held: ByteBuffer?

    /// `install(true)` adds the HTTP/2 codec, `install(false)` HTTP/1.
    init(install: @escaping (Bool) throws -> Void) {
        self.install = install
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if held == nil { held = bytes } else { held!.writeBuffer(&bytes) }
        let view = held!.readableBytesView
        let compared = min(view.count, Self.preface.count)
        let matches = view.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        if matches && compared < Self.preface.count { return }  // wait for more
        do {
            try install(matches)
        } catch {
            return context.close(promise: nil)
        }
        let buffer = held!
        held = nil
        context.fireChannelRead(wrapInboundOut(buffer))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// `connection_keepalive` as Envoy does it: a PING every `interval` (plus up to `interval_jitter`);
/// when neither its ACK nor any other frame comes within `timeout` the connection is closed at
/// once (a peer that does not answer PINGs would not read a GOAWAY either).
final class HTTP2KeepaliveHandler: ChannelInboundHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let keepalive: Http2ProtocolOptions.Keepalive
    private let timeout: TimeAmount
    private let payload = HTTP2PingData(withInteger: UInt64.random(in: .min ... .max))
    private var context: ChannelHandlerContext?
    private var timer: NIOScheduledCallback?
    private var awaitingAck = false
    private let timedOut: () -> Void

    /// `timedOut` hears of a PING that went unanswered, before the connection closes.
    init(_ keepalive: Http2ProtocolOptions.Keepalive, timedOut: @escaping () -> Void) {
        self.keepalive = keepalive
        self.timedOut = timedOut
        timeout = TimeAmount(keepalive.timeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { schedulePing() }
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil { schedulePing() }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    private func schedulePing() {
        // A listener's keepalive always has an interval (connection_idle_interval is upstream only).
        guard let next = keepalive.nextInterval() else { return }
        timer = try? context?.eventLoop.assumeIsolated().scheduleCallback(in: TimeAmount(next), handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard let context else { return }
        if awaitingAck {
            timedOut()
            context.close(promise: nil)
            return
        }
        awaitingAck = true
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(payload, ack: false))),
                              promise: nil)
        timer = try? eventLoop.assumeIsolated().scheduleCallback(in: timeout, handler: self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if awaitingAck {
            timer?.cancel()
            if case .ping(let data, ack: true) = unwrapInboundIn(data).payload, data == payload {
                awaitingAck = false
                schedulePing()
            } else {
                // Any frame shows the connection alive: the wait for the answer starts again
                // (as Envoy, so an answer queued behind a large response is not a timeout).
                timer = try? context.eventLoop.assumeIsolated().scheduleCallback(in: timeout, handler: self)
            }
        }
        context.fireChannelRead(data)
    }
}
