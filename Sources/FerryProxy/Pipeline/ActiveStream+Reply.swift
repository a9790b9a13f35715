import FerryConfig
import FerryTelemetry
import NIOCore

/// Responses: local replies (shaped by local_reply_config), streaming upstream responses to
/// the codec, and completion.
extension ActiveStream {
    /// Answers from the proxy itself with Envoy's local reply semantics: `local_reply_config`
    /// mappers may change the status, body, format and headers; `content-type: text/plain`
    /// when there is a body; HEAD gets no body; a gRPC request gets a trailers-only gRPC
    /// response with `grpcStatus` (else one derived from the status; ActiveStream+GRPCReply).
    func sendLocalReply(_ status: Int, body: String, details: String, extraHeaders: HeaderMap? = nil,
                        applyRouteHeaders: Bool = false, grpcStatus: UInt64? = nil) {
        guard !finished else { return }
        if responseStarted {
            // Too late for a reply: the client already has part of a response.
            self.details = details
            return resetDownstream()
        }
        if let takeover = filtersIntercept(status: status, local: true) {
            self.details = details
            return takeover()
        }
        isLocalReply = true
        self.details = details
        localBody = body
        var status = status
        var text = body
        var contentType: String? = body.isEmpty ? nil : "text/plain"
        var headers = HeaderMap()
        if let extraHeaders { for (n, v) in extraHeaders { headers.addLowercased(n, v) } }
        if let config = hcm.localReply {
            // The filter sees the reply as it is about to be sent.
            pendingLocalStatus = status
            var format = config.format
            for mapper in config.mappers where AccessLogFilterEvaluator.matches(mapper.filter, self) {
                if let s = mapper.status { status = s }
                if let b = mapper.body { text = b; localBody = b }
                if let f = mapper.format { format = f }
                apply(HeaderMutations(add: mapper.headers), to: &headers)
                break
            }
            pendingLocalStatus = status
            if let format {
                localBody = text
                text = format.formatter.formatString(self)
                contentType = format.contentType
            } else if text != body {
                contentType = text.isEmpty ? nil : "text/plain"
            }
            pendingLocalStatus = nil
        }
        if applyRouteHeaders { applyResponseMutations(&headers) }
        if isGRPCRequest {
            headers = grpcReplyHeaders(status: status, grpcStatus: grpcStatus, message: text, extra: headers)
            status = 200
            text = ""
        }
        // 204 and 304 carry neither a body nor a length (RFC 9110 §8.6), as Envoy sends them.
        let bodiless = status == 204 || status == 304 || status < 200
        if bodiless { text = "" }
        let sendBody = request.method != "HEAD" && !text.isEmpty
        // Envoy's order: a body's length and type first; an empty reply's length last.
        if !text.isEmpty {
            var framed = HeaderMap()
            framed.addLowercased("content-length", String(text.utf8.count))
            if let contentType, !headers.contains("content-type") { framed.addLowercased("content-type", contentType) }
            for (n, v) in headers where n != "content-length" { framed.addLowercased(n, v) }
            headers = framed
            finishResponseHeaders(&headers)
        } else {
            headers.remove("content-length")
            finishResponseHeaders(&headers)
            if !bodiless { headers.addLowercased("content-length", "0") }
        }
        if hcm.config.alwaysSetRequestIDInResponse, let id = request.headers.first("x-request-id") { headers.setLowercased("x-request-id", id) }
        routeDeadline = nil
        if !requestEnded {
            shard.inc(stats.rqResponseBeforeComplete)
            encoder.closeAfterResponse()
        }
        startResponse(ResponseHead(status: status, headers: headers))
        if sendBody { self.sendBody(ByteBuffer(string: text)) }
        endResponse(trailers: nil)
        encoder.flush()
    }

    /// `date` when absent, and `server` per server_header_transformation.
    func finishResponseHeaders(_ headers: inout HeaderMap) {
        if !headers.contains("date") { headers.addLowercased("date", worker.clock.dateHeader) }
        switch hcm.config.serverHeaderTransformation {
        case .overwrite: headers.setLowercased("server", hcm.config.serverName)
        case .appendIfAbsent: if !headers.contains("server") { headers.addLowercased("server", hcm.config.serverName) }
        case .passThrough: break
        }
        if let via = hcm.config.via { RequestHeaderRules.appendVia(&headers, via) }
        if hcm.config.alwaysSetRequestIDInResponse, !headers.contains("x-request-id"), let id = request.headers.first("x-request-id") {
            headers.addLowercased("x-request-id", id)
        }
    }

    func startResponse(_ head: ResponseHead) {
        var head = head
        if filterHooks.contains(.encodeHeaders) {
            forEachFilter(with: .encodeHeaders, reversed: true) { $0.encodeHeaders(self, &head) }
        }
        responseStarted = true
        responseHead = head
        responseHeadersBytes = UInt64(head.headers.wireSize + 17)
        let now = worker.now
        firstTxAt = now
        lastTxAt = now
        // A filter that rewrites the head from the body sends it at the end (deferResponseHead).
        if responseHeadDeferred { return }
        encoder.encodeHeaders(head, for: self)
    }

    /// Called by a filter from `encodeHeaders`: the head (`responseHead`, which the filter may
    /// still change) goes to the client only when the first body byte or the end does; until
    /// then the filter swallows the body (a gRPC-Web answer made from a plain response).
    func deferResponseHead() { responseHeadDeferred = true }

    private func sendDeferredHead() {
        guard responseHeadDeferred, let head = responseHead else { return }
        responseHeadDeferred = false
        responseHeadersBytes = UInt64(head.headers.wireSize + 17)
        encoder.encodeHeaders(head, for: self)
    }

    func sendBody(_ data: ByteBuffer) {
        // Filters may rewrite the chunk, or keep it and release it later (StreamFilter.holdBody).
        var data = data
        if filterHooks.contains(.responseBody), filtersEncodeData(&data, below: filters.count) { return }
        writeBody(data)
    }

    /// Hands a body chunk to the codec (after the filters).
    func writeBody(_ data: ByteBuffer) {
        if responseHeadDeferred, data.readableBytes > 0 { sendDeferredHead() }
        bodyBytesSent += UInt64(data.readableBytes)
        lastTxAt = worker.now
        encoder.encodeData(data, for: self)
    }

    func endResponse(trailers: HeaderMap?) {
        // Filters may rewrite the trailers and add a last chunk; one still holding body keeps
        // the end too, and completes it after the body.
        var trailers = trailers
        if filterHooks.contains(.responseBody), filtersEncodeEnd(&trailers, below: filters.count) { return }
        completeResponse(trailers: trailers)
    }

    /// Ends the response at the codec (after the filters) and finishes the stream.
    func completeResponse(trailers: HeaderMap?) {
        sendDeferredHead()
        responseEnded = true
        lastTxAt = worker.now
        encoder.encodeEnd(trailers: trailers, for: self)
        finish()
    }

    /// Abort: the response cannot complete (upstream died mid-body, timeout after the response began).
    func resetDownstream() {
        guard !finished else { return }
        shard.inc(stats.rqTxReset)
        abortUpstream()
        encoder.resetStream(self)
        finish()
    }

    /// The client went away (connection closed before the response completed).
    func onDownstreamReset() {
        guard !finished else { return }
        shard.inc(stats.rqRxReset)
        flags.insert(.downstreamConnectionTermination)
        if upstream != nil || isAwaitingConnection, let cluster { shard.inc(cluster.definition.stats.upstreamRqCancelled) }
        abortUpstream()
        finish()
    }

    func abortUpstream() {
        if let connection = upstream {
            upstream = nil
            if let cluster { shard.inc(cluster.definition.stats.upstreamRqTxReset) }
            connection.abort()
        }
    }

    /// Stats, access log, and hand-back to the codec. Runs once.
    func finish() {
        guard !finished else { return }
        finished = true
        finishedAt = worker.now
        if let wake = filterWake {
            filterWake = nil
            wake.cancel()
        }
        worker.timers.remove(self)
        shard.add(stats.rqActive, -1)
        if isAwaitingConnection { pool?.cancel(self) }
        endAttempt()
        if let retry, retry.holdsRetrySlot, let cluster {
            retry.holdsRetrySlot = false
            cluster.resources.finishRetry()
        }
        if let status = responseHead?.status, responseEnded {
            let index = min(max(status / 100, 1), 5) - 1
            shard.inc(stats.rqCompleted)
            shard.inc(stats.rqClass[index])
            shard.inc(stats.listenerRqClass[index])
            shard.inc(stats.listenerRqCompleted)
        }
        shard.record(stats.rqTime, milliseconds: Double((finishedAt! - started).nanoseconds) / 1e6)
        if filterHooks.contains(.onComplete) { forEachFilter(with: .onComplete, reversed: false) { $0.onComplete(self) } }
        for log in hcm.accessLogs where log.filter.map({ AccessLogFilterEvaluator.matches($0, self) }) ?? true {
            log.sink.write(log.formatter.format(self))
        }
        encoder.streamFinished(self)
    }
}
