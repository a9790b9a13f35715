import NIOCore

/// The fallback filter's answer in place of a failed upstream path.
extension ActiveStream {
    /// Answers with `status`, `headers` and `body` as given (a kept upstream response or a
    /// configured one): unlike `sendLocalReply`, no `local_reply_config` mapping and no
    /// content-type of its own. Flag FB; `details` says which fallback. Runs inside a filter's
    /// takeover, before any of the response went out.
    func sendFallbackResponse(status: Int, headers: HeaderMap, body: ByteBuffer, details: String) {
        guard !finished else { return }
        self.details = details
        if responseStarted { return resetDownstream() }
        flags.insert(.fallbackServed)
        var headers = headers
        let bodiless = status == 204 || status == 304
        _ = headers.remove("content-length")
        _ = headers.remove("transfer-encoding")
        if !bodiless { headers.addLowercased("content-length", String(body.readableBytes)) }
        finishResponseHeaders(&headers)
        routeDeadline = nil
        if !requestEnded {
            shard.inc(stats.rqResponseBeforeComplete)
            encoder.closeAfterResponse()
        }
        startResponse(ResponseHead(status: status, headers: headers))
        if !bodiless, request.method != "HEAD", body.readableBytes > 0 { sendBody(body) }
        endResponse(trailers: nil)
        encoder.flush()
    }
}
