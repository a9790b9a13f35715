import FerryTelemetry
import NIOCore

/// One HTTP/1.1 connection to an upstream host: encodes the request of the stream attached to
/// it and parses the response back into that stream. Holds at most one stream at a time.
final class UpstreamHTTP1Connection: ChannelDuplexHandler, NIOScheduledCallbackHandler, UpstreamStream, DeferredFlushing {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// At most this many 1xx responses before the final one (1xx floods are a protocol error).
    static let maxInformationalResponses = 20

    private var context: ChannelHandlerContext?
    /// Set once connected; cleared when the connection closes (breaking the pool's reference cycle).
    var pool: HTTP1ConnectionPool?
    private var localAddressText: String?
    private(set) var stream: ActiveStream?
    private var parser = HTTP1Parser(role: .client)
    private var inbound: ByteBuffer?
    private(set) var requestsServed = 0
    private(set) var isAttachedToPool = false
    var countedActive = false
    private var closed = false
    private var reusable = true
    private var requestChunked = false
    private(set) var requestDone = false
    private(set) var responseDone = true
    private var informational = 0
    private var tunnel = false
    private var readGate = ReadGate()
    private var idleSince: NIODeadline?
    private var idleTimeout: TimeAmount?
    private var idleTimer: NIOScheduledCallback?

    private var writable = true

    var isUsable: Bool {
        !closed && reusable && !tunnel && responseDone && requestDone && (inbound?.readableBytes ?? 0) == 0
    }

    var isWritable: Bool { writable && !closed }
    var localAddress: String? {
        if localAddressText == nil { localAddressText = context?.channel.localAddress.map(UpstreamHost.format) }
        return localAddressText
    }
    var connectionID: UInt64 { UInt64(UInt(bitPattern: ObjectIdentifier(self).hashValue)) }

    private var clusterStats: ClusterStats? { pool?.cluster.definition.stats }
    private var shard: StatsShard? { pool?.cluster.worker.stats }

    // MARK: stream attachment

    func attach(_ stream: ActiveStream) {
        self.stream = stream
        isAttachedToPool = true
        requestsServed += 1
        requestDone = false
        responseDone = false
        requestChunked = false
        informational = 0
        idleSince = nil
        parser.pendingRequestMethod = stream.upstreamMethod
    }

    func detach() {
        stream = nil
        isAttachedToPool = false
        resumeReading()
    }

    func becameIdle(timeout: TimeAmount?) {
        idleSince = pool?.cluster.worker.now ?? context?.eventLoop.now
        idleTimeout = timeout
        if let timeout, idleTimer == nil, let loop = context?.eventLoop {
            idleTimer = try? loop.assumeIsolated().scheduleCallback(in: timeout, handler: self)
        }
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        idleTimer = nil
        guard let since = idleSince, let timeout = idleTimeout, stream == nil, !closed else { return }
        let expiry = since + timeout
        if expiry <= eventLoop.now {
            if let stats = clusterStats { shard?.inc(stats.upstreamCxIdleTimeout) }
            closeLocally()
        } else {
            idleTimer = try? eventLoop.assumeIsolated().scheduleCallback(at: expiry, handler: self)
        }
    }

    // MARK: request encoding

    private var headBuffer = ReusableHeadBuffer()

    func sendHeaders(_ head: RequestHead, endStream: Bool) {
        guard let context else { return }
        requestChunked = !endStream && head.headers.first("transfer-encoding") != nil
        if !head.wantsKeepAlive { reusable = false }
        var buffer = headBuffer.next(minimumCapacity: 256 + head.headers.count * 32)
        if !endStream && !head.headers.containsFraming {
            // An HTTP/2 request's body needs no length; HTTP/1 frames it with chunks.
            var head = head
            head.headers.addLowercased("transfer-encoding", "chunked")
            requestChunked = true
            HTTP1Serializer.writeRequestHead(head, into: &buffer)
        } else {
            HTTP1Serializer.writeRequestHead(head, into: &buffer)
        }
        count(tx: buffer.readableBytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
        headBuffer.keep(buffer)
        if endStream {
            requestDone = true
            flush()
        }
    }

    func sendData(_ data: ByteBuffer, endStream: Bool) {
        guard let context else { return }
        if requestChunked {
            if data.readableBytes > 0 {
                var header = ByteBufferAllocator.shared.buffer(capacity: 12)
                HTTP1Serializer.writeChunkHeader(data.readableBytes, into: &header)
                context.write(wrapOutboundOut(header), promise: nil)
                context.write(wrapOutboundOut(data), promise: nil)
                context.write(wrapOutboundOut(ByteBuffer.crlf), promise: nil)
            }
            if endStream {
                var last = ByteBufferAllocator.shared.buffer(capacity: 5)
                HTTP1Serializer.writeLastChunk(trailers: nil, into: &last)
                context.write(wrapOutboundOut(last), promise: nil)
            }
        } else if data.readableBytes > 0 {
            context.write(wrapOutboundOut(data), promise: nil)
        }
        count(tx: data.readableBytes)
        if endStream {
            requestDone = true
            flush()
        }
    }

    /// Raw bytes after an upgrade.
    func sendTunnel(_ data: ByteBuffer) {
        guard let context else { return }
        count(tx: data.readableBytes)
        context.write(wrapOutboundOut(data), promise: nil)
    }

    func endTunnel() {
        guard tunnel, let context else { return }
        context.flush()
        context.close(mode: .output, promise: nil)
    }

    /// At the end of the event-loop iteration (`Worker.flushAtEndOfIteration`).
    func flush() {
        flush(atEndOfIterationOf: pool?.cluster.worker)
    }

    var flushQueued = false
    func flushNow() { context?.flush() }

    private func count(tx bytes: Int) {
        if let stats = clusterStats { shard?.inc(stats.upstreamCxTxBytesTotal, by: UInt64(bytes)) }
    }

    // MARK: reading

    func pauseReading() { readGate.pause() }

    func resumeReading() {
        if readGate.resume() { context?.read() }
    }

    func read(context: ChannelHandlerContext) {
        if readGate.admit() { context.read() }
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pool?.cluster.worker.tick()
        var bytes = unwrapInboundIn(data)
        if let stats = clusterStats { shard?.inc(stats.upstreamCxRxBytesTotal, by: UInt64(bytes.readableBytes)) }
        guard stream != nil else {
            // Bytes while idle: an unsolicited response or garbage. Never reuse this connection.
            if let stats = clusterStats { shard?.inc(stats.upstreamCxProtocolError) }
            closeLocally()
            return
        }
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound!.writeBuffer(&bytes)
        }
        process()
    }

    private func process() {
        while let stream, inbound != nil {
            if tunnel {
                guard inbound!.readableBytes > 0 else { return }
                let data = inbound!.readSlice(length: inbound!.readableBytes)!
                stream.onUpstreamTunnelData(data)
                return
            }
            let event: HTTP1Parser.Event?
            do {
                event = try parser.next(&inbound!)
            } catch {
                if let stats = clusterStats { shard?.inc(stats.upstreamCxProtocolError) }
                reusable = false
                self.stream = nil
                stream.onUpstreamReset(.protocolError, detail: error.detail)
                closeLocally()
                return
            }
            // Consumed, so that the head handed to the stream holds the only reference to its
            // header array (the stream edits it in place).
            guard let next = consume event else { return }
            switch consume next {
            case .responseHead(let head):
                if head.status < 200 && head.status != 101 {
                    informational += 1
                    if informational > Self.maxInformationalResponses {
                        if let stats = clusterStats { shard?.inc(stats.upstreamCxProtocolError) }
                        reusable = false
                        self.stream = nil
                        stream.onUpstreamReset(.protocolError, detail: "too_many_informational_responses")
                        closeLocally()
                        return
                    }
                    continue
                }
                if !head.wantsKeepAlive { reusable = false }
                if head.status == 101 {
                    tunnel = true
                    reusable = false
                }
                stream.onUpstreamHeaders(consume head)
            case .body(let data):
                stream.onUpstreamData(data)
            case .end(let trailers):
                responseDone = true
                if !requestDone { reusable = false }
                stream.onUpstreamComplete(trailers: trailers)
            case .requestHead:
                break
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let stream { stream.onUpstreamReadComplete() }
        if let buffer = inbound, buffer.readableBytes == 0 { inbound = nil } else if inbound != nil {
            inbound!.discardReadBytes()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        stream?.onUpstreamWritabilityChanged(writable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool?.cluster.worker.tick()
        let wasClosedLocally = closed
        closed = true
        idleTimer?.cancel()
        if let stats = clusterStats, let shard {
            shard.inc(stats.upstreamCxDestroy)
            shard.inc(wasClosedLocally ? stats.upstreamCxDestroyLocal : stats.upstreamCxDestroyRemote)
            if countedActive { shard.add(stats.upstreamCxActive, -1) }
            if stream != nil {
                shard.inc(stats.upstreamCxDestroyWithActiveRq)
                shard.inc(wasClosedLocally ? stats.upstreamCxDestroyLocalWithActiveRq : stats.upstreamCxDestroyRemoteWithActiveRq)
            }
        }
        countedActive = false
        pool?.remove(self)
        let pool = self.pool
        self.pool = nil
        defer { _ = pool }
        if let stream {
            self.stream = nil
            if tunnel {
                stream.onUpstreamComplete(trailers: nil)
            } else if wasClosedLocally {
                stream.onUpstreamReset(.localReset, detail: "upstream_reset")
            } else {
                switch Result(catching: { () throws(HTTP1ParseError) in try parser.endOfInput() }) {
                case .success(.end?):
                    // A close-delimited response ends here.
                    responseDone = true
                    stream.onUpstreamComplete(trailers: nil)
                case .failure:
                    // A body cut short of its length or last chunk: Envoy's codec calls that a
                    // protocol error (UPE), not a connection termination.
                    stream.onUpstreamReset(.protocolError, detail: "upstream_reset")
                default:
                    stream.onUpstreamReset(.connectionTermination, detail: "upstream_reset")
                }
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Close from our side (timeout, reset, not reusable).
    func closeLocally() {
        guard !closed else { return }
        closed = true
        reusable = false
        idleTimer?.cancel()
        context?.close(promise: nil)
    }

    func complete(requestEnded: Bool) {
        if requestEnded, let pool { pool.release(self) } else { abort() }
    }

    /// The stream gave up on this request (timeout, downstream reset): the connection cannot be reused.
    func abort() {
        stream = nil
        closeLocally()
    }
}

extension ByteBufferAllocator {
    /// One allocator value for the request path (reaching it through the channel costs property
    /// lookups per write; it is a stateless value).
    static let shared = ByteBufferAllocator()
}

extension ByteBuffer {
    /// Shared "\r\n" for chunk framing (immutable, so sharing it across loops is safe).
    static let crlf = ByteBuffer(string: "\r\n")
}
