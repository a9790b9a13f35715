import NIOCore
import NIOHPACK
import NIOHTTP2

/// One request on an HTTP/2 upstream connection: the handler of the stream's child channel.
/// Writes the request as HEADERS and DATA frames and hands the response frames to the
/// `ActiveStream`; an upgrade goes as an extended CONNECT whose stream then carries the tunnel. Flow control both ways: the child channel turns unwritable while the peer's
/// window is used up (the router then stops reading the downstream), and response frames are
/// read only while the downstream takes them (unread frames hold back WINDOW_UPDATEs).
final class UpstreamHTTP2Stream: ChannelDuplexHandler, UpstreamStream, DeferredFlushing {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let connection: UpstreamHTTP2Connection
    private(set) var stream: ActiveStream?
    private var context: ChannelHandlerContext?
    private var finalHeadSeen = false
    private var informational = 0
    private var requestDone = false
    private var responseDone = false
    private var endReported = false
    private var readGate = ReadGate()
    /// An upgrade sent as an RFC 8441 extended CONNECT (`allow_connect` on the cluster): after
    /// the upstream's 200 (reported as the 101 it stands for) DATA carries the tunnel.
    private var extendedConnect = false
    private var tunnelOpen = false

    init(connection: UpstreamHTTP2Connection, stream: ActiveStream) {
        self.connection = connection
        self.stream = stream
    }

    // MARK: opening

    /// The stream's channel is active: the router may send.
    func opened() {
        guard let stream else { return }
        stream.onPoolReady(self)
    }

    /// The stream could not be opened (the connection went away meanwhile).
    func failToOpen() {
        reportEnded()
        guard let stream else { return }
        self.stream = nil
        stream.onUpstreamReset(.connectionTermination, detail: "upstream_reset")
    }

    private func reportEnded() {
        guard !endReported else { return }
        endReported = true
        connection.streamEnded()
    }

    // MARK: UpstreamStream

    func sendHeaders(_ head: RequestHead, endStream: Bool) {
        guard let context else { return }
        var endStream = endStream
        let headers: HPACKHeaders
        if let upgrade = stream?.upgradeType {
            // The router lets upgrades reach HTTP/2 clusters only with allow_connect.
            extendedConnect = true
            endStream = false  // the upgrade's head "ends" the request; the tunnel follows
            headers = HTTP2HeaderMapping.extendedConnectHeaders(head, protocol: upgrade, scheme: connection.scheme)
        } else {
            headers = HTTP2HeaderMapping.requestHeaders(head, scheme: connection.scheme)
        }
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: endStream))), promise: nil)
        if extendedConnect { flushNow() }
        if endStream {
            requestDone = true
            flush()
        }
    }

    func sendData(_ data: ByteBuffer, endStream: Bool) {
        guard let context else { return }
        let trailers = endStream ? stream?.requestTrailers.flatMap { $0.isEmpty ? nil : $0 } : nil
        if data.readableBytes > 0 || (endStream && trailers == nil) {
            let last = endStream && trailers == nil
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(data), endStream: last))), promise: nil)
        }
        if let trailers {
            context.write(wrapOutboundOut(.headers(.init(headers: HTTP2HeaderMapping.trailersBlock(trailers), endStream: true))),
                          promise: nil)
        }
        if endStream {
            requestDone = true
            flush()
        }
    }

    /// A tunnel's bytes from the downstream, as DATA (after an extended CONNECT's 200).
    func sendTunnel(_ data: ByteBuffer) {
        guard tunnelOpen, let context, data.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(data)))), promise: nil)
    }

    /// The downstream ended its side of the tunnel: END_STREAM (a TCP FIN, RFC 8441 §4).
    func endTunnel() {
        guard tunnelOpen, !requestDone, let context else { return }
        requestDone = true
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: nil)
    }

    /// At the end of the event-loop iteration (`Worker.flushAtEndOfIteration`).
    func flush() {
        flush(atEndOfIterationOf: connection.worker)
    }

    var flushQueued = false

    /// The stream's first flush opens it on the connection. A GOAWAY read since the pool picked
    /// the connection (in the same loop iteration) means the peer never sees this stream: it is
    /// refused here, so a retry policy can send it elsewhere, instead of NIOHTTP2 failing the
    /// late HEADERS as a connection error that would close the streams still in flight.
    func flushNow() {
        guard let context else { return }
        if !flushedOnce {
            if connection.peerGoingAway { return refuseUnsent() }
            flushedOnce = true
        }
        context.flush()
    }

    private var flushedOnce = false

    private func refuseUnsent() {
        guard let stream else { return }
        self.stream = nil
        context?.close(promise: nil)
        stream.onUpstreamReset(.refusedStream, detail: "upstream_reset")
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    var localAddress: String? { connection.localAddress }

    func complete(requestEnded: Bool) {
        stream = nil
        // A response that ended before the request did: the rest of the request is not wanted
        // (closing an open stream sends RST_STREAM).
        if !requestDone || !requestEnded { context?.close(promise: nil) }
    }

    func abort() {
        stream = nil
        context?.close(promise: nil)
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
        guard let stream else { return }
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if finalHeadSeen {
                // Trailers: they end the stream.
                guard headers.endStream else { return protocolError("trailers without END_STREAM") }
                return finishResponse(trailers: HTTP2HeaderMapping.trailers(headers.headers))
            }
            let head: ResponseHead
            do {
                head = try HTTP2HeaderMapping.responseHead(headers.headers)
            } catch {
                return protocolError("invalid response headers")
            }
            if head.status < 200 {
                informational += 1
                if head.status == 101 || informational > UpstreamHTTP1Connection.maxInformationalResponses {
                    return protocolError("too_many_informational_responses")
                }
                return
            }
            finalHeadSeen = true
            if extendedConnect, head.status == 200, !headers.endStream, let upgrade = stream.upgradeType {
                // The tunnel is open: to the router this is the 101 of the upgrade it carries.
                tunnelOpen = true
                var switched = head
                switched.status = 101
                switched.headers.addLowercased("upgrade", upgrade)
                return stream.onUpstreamHeaders(switched)
            }
            stream.onUpstreamHeaders(head)
            if headers.endStream { finishResponse(trailers: nil) }
        case .data(let data):
            guard finalHeadSeen else { return protocolError("data before headers") }
            if case .byteBuffer(let buffer) = data.data, buffer.readableBytes > 0 {
                if tunnelOpen { stream.onUpstreamTunnelData(buffer) } else { stream.onUpstreamData(buffer) }
            }
            if data.endStream { finishResponse(trailers: nil) }
        default:
            // RST_STREAM arrives as an error (errorCaught); WINDOW_UPDATE and PRIORITY need nothing.
            break
        }
    }

    private func finishResponse(trailers: HeaderMap?) {
        responseDone = true
        guard let stream else { return }
        stream.onUpstreamComplete(trailers: trailers)
    }

    private func protocolError(_ detail: String) {
        guard let stream else { return }
        self.stream = nil
        context?.close(promise: nil)
        stream.onUpstreamReset(.protocolError, detail: detail)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        stream?.onUpstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stream?.onUpstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let stream {
            self.stream = nil
            if let closed = error as? NIOHTTP2Errors.StreamClosed {
                // REFUSED_STREAM, and every stream a GOAWAY left unprocessed, is safe to retry.
                let refused = closed.errorCode == .refusedStream || connection.unprocessed(closed.streamID)
                stream.onUpstreamReset(refused ? .refusedStream : .remoteReset, detail: "upstream_reset")
            } else {
                stream.onUpstreamReset(.protocolError, detail: "upstream_reset")
            }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        reportEnded()
        if let stream {
            self.stream = nil
            stream.onUpstreamReset(.connectionTermination, detail: "upstream_reset")
        }
        context.fireChannelInactive()
    }
}
