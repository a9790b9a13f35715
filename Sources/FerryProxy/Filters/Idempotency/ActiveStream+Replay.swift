import NIOCore

/// Answering with a stored response (the idempotency filter's replay).
extension ActiveStream {
    /// Sends `response` as this stream's answer, marked `idempotent-replayed: true`. It is the
    /// upstream's response again, byte for byte in its body, so `local_reply_config` does not
    /// reshape it; `date`, `server` and the framing are this response's own.
    func sendReplay(_ response: IdempotentResponse) {
        guard !finished, !responseStarted else { return }
        isLocalReply = true
        details = "idempotent_replay"
        var headers = response.headers
        headers.addLowercased("idempotent-replayed", "true")
        let bodiless = response.status == 204 || response.status == 304 || response.status < 200
        if !bodiless { headers.addLowercased("content-length", String(response.body.readableBytes)) }
        finishResponseHeaders(&headers)
        routeDeadline = nil
        if !requestEnded {
            shard.inc(stats.rqResponseBeforeComplete)
            encoder.closeAfterResponse()
        }
        startResponse(ResponseHead(status: response.status, headers: headers))
        if !bodiless, request.method != "HEAD", response.body.readableBytes > 0 { sendBody(response.body) }
        endResponse(trailers: nil)
        encoder.flush()
    }
}
