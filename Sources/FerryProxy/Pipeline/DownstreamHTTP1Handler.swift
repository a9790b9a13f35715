import FerryConfig
import FerryTelemetry
import NIOCore

/// The HTTP/1.x server side of one downstream connection: parses requests with
/// `HTTP1Parser`, runs one `ActiveStream` at a time (pipelined requests wait, in order), and
/// encodes responses with the framing the client can read. It is the only handler in the
/// connection's pipeline, so bytes go from the socket to the stream without hops.
final class DownstreamHTTP1Handler: ChannelDuplexHandler, StreamEncoder, NIOScheduledCallbackHandler, DownstreamConnection, DeferredFlushing {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    unowned(unsafe) let worker: Worker
    /// The listener and connection manager of the filter chain that took this connection.
    private var binding: ConnectionManagerBinding
    var listenerName: String { binding.listenerName }
    var listener: CompiledListener { binding.listener }
    var hcm: CompiledHCM { binding.hcm }
    /// The listener's connection count this connection was admitted into.
    private let admission: ListenerConnections
    var context: ChannelHandlerContext?
    private var info: DownstreamConnectionInfo!
    private var parser: HTTP1Parser
    private var inbound: ByteBuffer?
    var stream: ActiveStream?
    var requestDone = false
    private var bodyPaused = false
    private var readPaused = false
    private var pendingRead = false
    var closing = false
    var closeAfter = false
    private var tunnel = false
    private var requests = 0
    // Response framing of the current stream.
    private var chunked = false
    private var noBody = false
    /// The response head, kept back until the first body bytes so that a small response goes
    /// out as one buffer (one write element, one syscall).
    private var pendingOut: ByteBuffer?
    /// `pendingOut`'s storage, reused for the next response's head.
    private var headBuffer = ReusableHeadBuffer()
    // Flushes wait for the end of the event-loop iteration (`Worker.flushAtEndOfIteration`).
    static let coalesceLimit = 16 * 1024
    // Idle timeout (no stream active).
    var idleSince: NIODeadline?
    /// The request headers and idle deadlines.
    var timer = DeadlineTimer()
    var headStartedAt: NIODeadline?

    /// The connection's TLS facts (DownstreamTLS.swift); nil on plain TCP.
    private let tls: DownstreamTLSInfo?

    init(worker: Worker, listener: CompiledListener, chain: CompiledFilterChain, hcm: CompiledHCM, tls: DownstreamTLSInfo? = nil) {
        self.tls = tls
        self.worker = worker
        binding = ConnectionManagerBinding(listener: listener, chain: chain, hcm: hcm)
        admission = listener.connections
        parser = HTTP1Parser(role: .server, limits: hcm.limits)
    }

    var hcmStats: HCMStats { hcm.stats }
    var shard: StatsShard { worker.stats }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        worker.tick()  // the worker may have been quiet: deadlines count from now, not its last read
        info = DownstreamConnectionInfo(id: worker.server.nextConnectionID(), remote: context.channel.remoteAddress,
                                        local: context.channel.localAddress, tls: tls)
        binding.countOpened(shard, http2: false)
        worker.connections[ObjectIdentifier(self)] = self
        becomeIdle()
    }

    func channelInactive(context: ChannelHandlerContext) {
        worker.tick()
        binding.countClosed(shard, http2: false, local: closing)
        if tunnel { shard.add(hcmStats.cxUpgradesActive, -1) }
        worker.connections[ObjectIdentifier(self)] = nil
        admission.release()
        timer.cancel()
        closing = true
        if let stream {
            self.stream = nil
            shard.inc(hcmStats.cxDestroyActiveRq)
            if tunnel && stream.responseStarted {
                stream.onUpstreamComplete(trailers: nil)
            } else {
                stream.onDownstreamReset()
            }
        }
        context.fireChannelInactive()
    }

    /// The pipeline drops its handlers when the channel closes: let go of the context (it
    /// holds this handler, so keeping it would leak both with the connection's buffers) and of
    /// the scheduled callback (which holds this handler until it fires).
    func handlerRemoved(context: ChannelHandlerContext) {
        timer.cancel()
        self.context = nil
        inbound = nil
        pendingOut = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeNow()
    }

    // MARK: reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        worker.tick()
        var bytes = unwrapInboundIn(data)
        shard.inc(hcmStats.cxRxBytes, by: UInt64(bytes.readableBytes))
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound!.writeBuffer(&bytes)
        }
        process()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        stream?.downstreamReadComplete()
        if let buffer = inbound {
            if buffer.readableBytes == 0 { inbound = nil } else if buffer.readerIndex > 32 * 1024 { inbound!.discardReadBytes() }
        }
        worker.flushAtEndOfIteration(self)
    }

    /// Unparsed bytes beyond which the socket stops being read (pipelined requests waiting
    /// for their turn, or a request body the upstream cannot take yet). Keeping reads on
    /// otherwise avoids two epoll_ctl calls per request.
    static let maxBufferedBytes = 16 * 1024

    /// While no stream is active the bytes belong to a request head still arriving: reading
    /// goes on, and the parser's head limits (max_request_headers_kb) bound the buffer.
    private var shouldPauseReading: Bool {
        readPaused || (stream != nil && (inbound?.readableBytes ?? 0) > Self.maxBufferedBytes)
    }

    func read(context: ChannelHandlerContext) {
        if shouldPauseReading {
            pendingRead = true
        } else {
            context.read()
        }
    }

    private func resumeReadingIfNeeded() {
        guard pendingRead, !shouldPauseReading else { return }
        pendingRead = false
        context?.read()
    }

    /// Feeds buffered bytes to the parser and the current stream for as long as they can take them.
    private func process() {
        while !closing, inbound != nil {
            if tunnel {
                guard let stream, inbound!.readableBytes > 0, !bodyPaused else { return }
                stream.decodeTunnel(inbound!.readSlice(length: inbound!.readableBytes)!)
                return
            }
            if stream == nil {
                guard inbound!.readableBytes > 0 else { return }
                if headStartedAt == nil {
                    headStartedAt = worker.now
                    if let timeout = hcm.requestHeadersTimeout { arm(worker.now + timeout) }
                }
                let event: HTTP1Parser.Event?
                do {
                    event = try parser.next(&inbound!)
                } catch {
                    return codecError(error)
                }
                guard case .requestHead(var head)? = consume event else { return }
                let start = headStartedAt ?? worker.now
                headStartedAt = nil
                idleSince = nil
                var endStream = false
                if case .fixed(0) = parser.state { endStream = true }
                if head.version == .http11, let expect = head.headers.first("expect"), expect.lowercased() == "100-continue" {
                    head.headers.remove("expect")
                    if !endStream { writeRaw("HTTP/1.1 100 Continue\r\n\r\n") }
                }
                if endStream { _ = try? parser.next(&inbound!) }
                startStream(consume head, endStream: endStream, started: start)
                continue
            }
            guard !requestDone, !bodyPaused, inbound!.readableBytes > 0 else { return }
            let event: HTTP1Parser.Event?
            do {
                event = try parser.next(&inbound!)
            } catch {
                return codecError(error)
            }
            switch event {
            case .body(let data)?:
                var end = false
                if case .fixed(0) = parser.state {
                    _ = try? parser.next(&inbound!)
                    end = true
                    requestDone = true
                }
                stream!.decodeData(data, endStream: end)
            case .end?:
                requestDone = true
                stream!.decodeData(ByteBuffer(), endStream: true)
            case nil, .requestHead?, .responseHead?:
                return
            }
        }
    }

    private func startStream(_ head: consuming RequestHead, endStream: Bool, started: NIODeadline) {
        requests += 1
        // Each request uses the generation current when it arrives (routes update on reload).
        if !binding.refresh(on: worker) { closeAfter = true }
        if let max = hcm.config.maxRequestsPerConnection, requests >= max { closeAfter = true }
        // Read before the connection manager strips Connection (hop-by-hop) from the head.
        if !head.wantsKeepAlive { closeAfter = true }
        requestDone = endStream
        bodyPaused = false
        chunked = false
        noBody = false
        let headerBytes = head.headers.wireSize
        let stream = ActiveStream(worker: worker, encoder: self, connection: info, listener: listener, hcm: hcm,
                                  generation: worker.generation, head: head, headerBytes: headerBytes, started: started)
        self.stream = stream
        stream.decodeHeaders(endStream: endStream)
    }

    /// A malformed request: answer with the parser's status and close, as Envoy does.
    private func codecError(_ error: HTTP1ParseError) {
        shard.inc(hcmStats.cxProtocolError)
        closeAfter = true
        if let stream {
            stream.flags.insert(.downstreamProtocolError)
            if stream.responseStarted { return stream.resetDownstream() }
            stream.abortUpstream()
            return stream.sendLocalReply(error.status, body: HTTPReason.phrase(error.status), details: error.detail)
        }
        if error.status == 413 { shard.inc(hcmStats.rqTooLarge) }
        refuseHead(error.status, body: HTTPReason.phrase(error.status), details: error.detail, flags: .downstreamProtocolError)
    }

    /// Answers a request whose head never became a request (malformed, or too slow) with a
    /// local reply on a stream of its own, so that stats and the access log see it as Envoy's do.
    func refuseHead(_ status: Int, body: String, details: String, flags: ResponseFlags = []) {
        let stream = ActiveStream(worker: worker, encoder: self, connection: info, listener: listener, hcm: hcm,
                                  generation: worker.generation,
                                  head: RequestHead(method: "", path: "", authority: nil), headerBytes: 0,
                                  started: headStartedAt ?? worker.now)
        self.stream = stream
        requestDone = true
        stream.codecRefused = true
        stream.flags.insert(flags)
        shard.inc(hcmStats.rqTotal)
        shard.add(hcmStats.rqActive, 1)
        stream.sendLocalReply(status, body: body, details: details)
    }

    // MARK: StreamEncoder

    func encodeHeaders(_ head: ResponseHead, for stream: ActiveStream) {
        guard let context else { return }
        let request = stream.request
        let status = head.status
        // Framing and connection fields are written after the head's own fields rather than
        // added to its header map: the stream keeps that map for the access log, so changing
        // it would copy it.
        var addChunked = false
        var connection: StaticString?
        noBody = request.method == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304
        // A failed health check (/healthcheck/fail) also closes connections, so load balancers move away (as Envoy).
        var keepAlive = !closeAfter && !worker.server.isDraining && !worker.server.healthCheckFailed && !gracefulDrainCloses()
        if status == 101 {
            keepAlive = false
        } else if noBody {
            // Framing headers pass through untouched (HEAD keeps the upstream's content-length).
        } else if head.headers.contains("content-length") {
            chunked = false
        } else if request.version == .http11 {
            addChunked = true
            chunked = true
        } else {
            keepAlive = false  // close-delimited body for HTTP/1.0 clients
        }
        if status != 101 {
            if !keepAlive {
                closeAfter = true
                connection = "close"
            } else if request.version == .http10 {
                connection = "keep-alive"
            }
        }
        var buffer = headBuffer.next(minimumCapacity: 512 + head.headers.count * 64)
        // An accepted HTTP/1.0 request gets an HTTP/1.0 status line, as Envoy sends (the 426 that
        // refuses HTTP/1.0 stays HTTP/1.1).
        let http10 = request.version == .http10 && hcm.config.acceptHTTP10
        if let connection, head.headers.contains("connection") {
            // Rare (a filter or header rule set one): replace it, as `set` does.
            var head = head
            head.headers.set("connection", String(describing: connection))
            HTTP1Serializer.writeResponseHead(head, version: http10 ? .http10 : .http11, chunked: addChunked, into: &buffer)
        } else {
            HTTP1Serializer.writeResponseHead(head, version: http10 ? .http10 : .http11, chunked: addChunked,
                                              connection: connection, into: &buffer)
        }
        shard.inc(hcmStats.cxTxBytes, by: UInt64(buffer.readableBytes))
        if status == 101 || noBody {
            context.write(wrapOutboundOut(buffer), promise: nil)
            headBuffer.keep(buffer)
        } else {
            pendingOut = buffer
        }
        if status == 101 {
            tunnel = true
            shard.inc(hcmStats.cxUpgradesTotal)
            shard.add(hcmStats.cxUpgradesActive, 1)
            parser.switchToTunnel()
            requestDone = false
            bodyPaused = false
            context.flush()
            process()
        }
    }

    func encodeData(_ data: ByteBuffer, for stream: ActiveStream) {
        guard let context, !noBody, data.readableBytes > 0 else { return }
        shard.inc(hcmStats.cxTxBytes, by: UInt64(data.readableBytes))
        if pendingOut != nil, data.readableBytes <= Self.coalesceLimit {
            var data = data
            if chunked { HTTP1Serializer.writeChunkHeader(data.readableBytes, into: &pendingOut!) }
            pendingOut!.writeBuffer(&data)
            if chunked { pendingOut!.writeStaticString("\r\n") }
            return
        }
        writePending()
        if chunked {
            var header = ByteBufferAllocator.shared.buffer(capacity: 12)
            HTTP1Serializer.writeChunkHeader(data.readableBytes, into: &header)
            context.write(wrapOutboundOut(header), promise: nil)
            context.write(wrapOutboundOut(data), promise: nil)
            context.write(wrapOutboundOut(ByteBuffer.crlf), promise: nil)
        } else {
            context.write(wrapOutboundOut(data), promise: nil)
        }
    }

    func encodeEnd(trailers: HeaderMap?, for stream: ActiveStream) {
        guard let context else { return }
        if chunked && !noBody {
            if pendingOut != nil {
                pendingOut!.writeStaticString("0\r\n\r\n")
            } else {
                context.write(wrapOutboundOut(ByteBuffer.lastChunk), promise: nil)
            }
        }
        writePending()
    }

    /// During `/drain_listeners?graceful`, whether this response should close its connection
    /// (a chance growing over the drain time, as Envoy's gradual drain).
    private func gracefulDrainCloses() -> Bool {
        let chance = worker.server.gracefulCloseChance(nowUptimeNanos: worker.now.uptimeNanoseconds,
                                                        inbound: listener.config.trafficDirection == .inbound)
        return chance > 0 && Double(worker.random.next() >> 11) / Double(1 << 53) < chance
    }

    private func writePending() {
        guard let buffer = pendingOut, let context else { return }
        pendingOut = nil
        context.write(wrapOutboundOut(buffer), promise: nil)
        headBuffer.keep(buffer)
    }

    func encodeTunnel(_ data: ByteBuffer) {
        guard let context else { return }
        writePending()
        shard.inc(hcmStats.cxTxBytes, by: UInt64(data.readableBytes))
        context.write(wrapOutboundOut(data), promise: nil)
    }

    func flush() {
        writePending()
        worker.flushAtEndOfIteration(self)
    }

    var flushQueued = false
    func flushNow() { context?.flush() }

    private var writable = true
    var isWritable: Bool { writable && !closing }

    func resetStream(_ stream: ActiveStream) {
        pendingOut = nil
        // Our own reset: the close that follows is not the client going away (no DC flag).
        if self.stream === stream {
            self.stream = nil
            shard.inc(hcmStats.cxDestroyActiveRq)
        }
        closeNow()
    }

    func resumeRequestBody() {
        guard bodyPaused else { return }
        bodyPaused = false
        process()
        resumeReadingIfNeeded()
    }

    func pauseRequestBody() { bodyPaused = true }

    func closeAfterResponse() { closeAfter = true }

    func streamFinished(_ finished: ActiveStream) {
        guard stream === finished, context != nil else { return }
        stream = nil
        if tunnel || closeAfter || !requestDone || closing {
            closeAfterFlush()
            return
        }
        becomeIdle()
        process()
        resumeReadingIfNeeded()
        worker.flushAtEndOfIteration(self)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        stream?.downstreamWritabilityChanged(writable)
        context.fireChannelWritabilityChanged()
    }
}

extension ByteBuffer {
    static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
}
