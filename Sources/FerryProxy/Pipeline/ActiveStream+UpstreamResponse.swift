import FerryTelemetry
import NIOCore

/// The router's side of the upstream response: its head (retry decisions, header rewrites, a
/// 101 that turns the stream into a tunnel), body, tunnel bytes, end and resets.
extension ActiveStream {
    /// Fields a response loses on the way to the client (`upgrade` stays on a 101).
    static let hopByHopResponseFields = ["connection", "keep-alive", "proxy-connection", "transfer-encoding"]
    static let hopByHopResponseFieldsAndUpgrade = hopByHopResponseFields + ["upgrade"]

    func onUpstreamHeaders(_ head: consuming ResponseHead) {
        guard !finished, !responseStarted else { return }
        let now = worker.now
        if attemptActivityAt != nil { attemptActivityAt = now }
        if firstUpstreamByteAt == nil { firstUpstreamByteAt = now }
        lastActivity = now
        if head.status >= 500 { pool?.counters.rqError += 1 } else { pool?.counters.rqSuccess += 1 }
        // Every attempt's status counts, retried or not (Envoy reports it before the retry decision).
        pool?.outlier?.record(.status(head.status))
        if let retry, head.status != 101 {
            if retry.retries(head) {
                // Not forwarded: the connection is dropped (its body unread) and the request retried.
                let connection = upstream
                endAttempt()
                if tryRetry() {
                    if let cluster { worker.chargeUpstreamCode(cluster, head.status, retried: true) }
                    upstream = nil
                    connection?.abort()
                    return
                }
            } else if retry.retriesDone > 0, let cluster {
                shard.inc(cluster.definition.stats.upstreamRqRetrySuccess)
            }
        }
        if let cluster {
            worker.chargeUpstreamCode(cluster, head.status)
            if let host, let started = upstreamStarted { cluster.recordLatency(now - started, host: host) }
            // Only clusters with active health checking act on it: no header scan otherwise.
            if let host, cluster.definition.config.activeHealthChecking.isEnabled,
               head.headers.contains("x-envoy-immediate-health-check-fail") {
                cluster.resources.reportImmediateHealthCheckFail(host)
            }
        }
        routeDeadline = nil
        perTryDeadline = nil
        if let takeover = filtersIntercept(status: head.status, local: false) {
            // The upstream's response is replaced: its connection cannot carry on.
            let connection = upstream
            upstream = nil
            endAttempt()
            connection?.abort()
            return takeover()
        }
        var response = consume head
        if response.status == 101 {
            response.headers.remove(anyOf: Self.hopByHopResponseFields)
            tunneling = true
            response.headers.addLowercased("connection", "upgrade")
        } else {
            response.headers.remove(anyOf: Self.hopByHopResponseFieldsAndUpgrade)
        }
        // Not on a 101: Envoy adds it only once the downstream request has ended, and an
        // upgrade's request goes on as the tunnel.
        if !hcm.router.suppressEnvoyHeaders, !tunneling, let started = upstreamStarted {
            response.headers.addLowercased("x-envoy-upstream-service-time", String((now - started).nanoseconds / 1_000_000))
        }
        if virtualHost?.includeAttemptCountInResponse == true { response.headers.set("x-envoy-attempt-count", String(attemptCount)) }
        if let cookie = hashCookie { response.headers.addLowercased("set-cookie", cookie.setCookieValue) }
        applyResponseMutations(&response.headers)
        finishResponseHeaders(&response.headers)
        details = "via_upstream"
        startResponse(response)
    }

    func onUpstreamData(_ data: ByteBuffer) {
        guard !finished else { return }
        lastActivity = worker.now
        if attemptActivityAt != nil { attemptActivityAt = lastActivity }
        sendBody(data)
        if !encoder.isWritable { upstream?.pauseReading() }
    }

    func onUpstreamTunnelData(_ data: ByteBuffer) {
        guard !finished else { return }
        lastActivity = worker.now
        bodyBytesSent += UInt64(data.readableBytes)
        encoder.encodeTunnel(data)
        if !encoder.isWritable { upstream?.pauseReading() }
    }

    func onUpstreamComplete(trailers: HeaderMap?) {
        guard !finished else { return }
        attemptActivityAt = nil
        upstreamStreamDeadline = nil
        if let cluster, let started = upstreamStarted {
            shard.record(cluster.definition.stats.upstreamRqTime, milliseconds: Double((worker.now - started).nanoseconds) / 1e6)
        }
        if let connection = upstream {
            upstream = nil
            connection.complete(requestEnded: upstreamRequestEnded)
        }
        responseTrailers = trailers
        endResponse(trailers: trailers)
    }

    func onUpstreamReadComplete() { encoder.flush() }

    func onUpstreamWritabilityChanged(_ writable: Bool) {
        if writable && !isAwaitingConnection && !finished { encoder.resumeRequestBody() }
    }

    func onUpstreamReset(_ kind: UpstreamResetKind, detail: String) {
        guard !finished else { return }
        upstream = nil
        if !responseStarted { pool?.counters.rqError += 1 }
        // Envoy reports every upstream reset as a local-origin connect failure (a 503 unsplit).
        pool?.outlier?.record(.connectFailed)
        // Envoy's HTTP/2 pool leaves a refused stream out of upstream_rq_rx_reset.
        if let cluster, kind != .refusedStream { shard.inc(cluster.definition.stats.upstreamRqRxReset) }
        if responseStarted {
            flags.insert(kind.responseFlag)
            details = "upstream_reset_after_response_started{\(kind.detail)}"
            return resetDownstream()
        }
        attemptFailed(kind.retryFailure) {
            flags.insert(kind.responseFlag)
            let status = kind == .protocolError ? 502 : 503
            chargeUpstreamAbort(status)
            let detail = kind.replyDetail
            sendLocalReply(status, body: RetryState.resetBody(String(detail.map { $0 == "_" ? " " : $0 }), retried: attemptCount > 1),
                           details: "upstream_reset_before_response_started{\(detail)}")
        }
    }
}
