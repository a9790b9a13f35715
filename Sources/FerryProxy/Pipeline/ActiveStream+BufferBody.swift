import NIOCore

/// A request body held back by a filter that must see all of it before deciding (the
/// idempotency filter fingerprints it). The chunks are the codec's slices, kept as they came;
/// the router sends them upstream (and again on a retry) instead of streaming from the codec.
final class RequestBodyBuffer {
    let limit: Int
    fileprivate(set) var chunks: [ByteBuffer] = []
    fileprivate(set) var bytes = 0
    /// Runs once when the request has ended; nil afterwards.
    fileprivate var then: (() -> Void)?

    fileprivate init(limit: Int, then: (() -> Void)?) {
        self.limit = limit
        self.then = then
    }
}

/// Buffering the request body for a filter: `bufferRequestBody(limit:then:)`.
///
/// Without a filter that calls it nothing changes: the codec streams the body to the router
/// (one nil check per body chunk and per upstream attempt).
extension ActiveStream {
    /// Reads the rest of the request body from the codec into `requestBodyBuffer`, then calls
    /// `then` on the stream's loop once the request has ended. A body over `limit` bytes gets a
    /// 413 (details `request_payload_too_large`, as Envoy's buffer filter) and `then` never
    /// runs. If the request has already ended, `then` runs before this returns.
    ///
    /// The caller is a filter's `decodeHeaders` that returns `.stop`; `then` decides, and calls
    /// `continueDecoding()` to go on. The router then sends the buffered body upstream, on every
    /// attempt, so retries no longer depend on the retry buffer.
    ///
    ///     guard !stream.requestEnded else { return decide(stream) }
    ///     stream.bufferRequestBody(limit: 1 << 20) { [unowned self, unowned stream] in
    ///         if decide(stream) == .proceed { stream.continueDecoding() }
    ///     }
    ///     return .stop
    func bufferRequestBody(limit: Int, then: @escaping () -> Void) {
        guard !finished else { return }
        guard requestBodyBuffer == nil else {
            // A second filter asking again: the body is already held (or was, then it ended).
            if requestEnded { then() } else { requestBodyBuffer!.chained(then) }
            return
        }
        requestBodyBuffer = RequestBodyBuffer(limit: limit, then: requestEnded ? nil : then)
        if requestEnded { return then() }
        // The filter chain pauses the codec when `decodeHeaders` returns `.stop`; resume after
        // that, from the loop, so body chunks never arrive inside the filter's own hook.
        let loop = NIOLoopBound(self, eventLoop: worker.loop)
        worker.loop.execute {
            let stream = loop.value
            guard !stream.finished, !stream.requestEnded else { return }
            stream.encoder.resumeRequestBody()
        }
    }

    /// The codec's body chunk while buffering: kept, or refused over the limit. Returns false
    /// when the stream is not buffering (the chunk goes on as usual).
    func bufferRequestData(_ data: ByteBuffer, endStream: Bool) -> Bool {
        guard let buffer = requestBodyBuffer, !requestEnded else { return false }
        guard !finished else { return true }
        if data.readableBytes > 0 {
            buffer.bytes += data.readableBytes
            if buffer.bytes > buffer.limit {
                buffer.then = nil
                buffer.chunks = []
                shard.inc(stats.rqTooLarge)
                sendLocalReply(413, body: "Payload Too Large", details: "request_payload_too_large")
                return true
            }
            buffer.chunks.append(data)
        }
        if endStream {
            onRequestComplete()
            let then = buffer.then
            buffer.then = nil
            then?()
        }
        return true
    }
}

extension RequestBodyBuffer {
    /// Lets `transform` rewrite each held chunk in place (`last` for the final one).
    func transformChunks(_ transform: (inout ByteBuffer, _ last: Bool) -> Void) {
        for i in chunks.indices { transform(&chunks[i], i == chunks.count - 1) }
        bytes = chunks.reduce(0) { $0 + $1.readableBytes }
    }

    /// The held body becomes `body` (a filter rewrote it, `replaceRequestBody`).
    func replace(with body: ByteBuffer) {
        chunks = body.readableBytes > 0 ? [body] : []
        bytes = body.readableBytes
    }

    fileprivate func chained(_ next: @escaping () -> Void) {
        let first = then
        then = {
            first?()
            next()
        }
    }
}
