import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// The router: the terminal step of a `route` action.
extension ActiveStream {
    func startRouter(_ action: CompiledRouteAction) {
        shard.inc(stats.routeTotal)
        let handle: ClusterHandle?
        switch action.target {
        case .cluster(let h):
            handle = h
        case .header(let name):
            handle = request.headers.first(name).flatMap { name in generation.clusterIndex[name].map { ClusterHandle(name: name, index: $0) } }
        case .weighted(let pick, let targets):
            // A filter may have picked already (fault's upstream_cluster; Envoy picks at route time).
            let target = weightedTarget ?? targets[pick.pick(using: &worker.random)]
            weightedTarget = target
            handle = target.cluster
        }
        guard let handle, handle.index >= 0, handle.index < worker.clusters.count else {
            shard.inc(stats.noCluster)
            flags.insert(.noClusterFound)
            return sendLocalReply(action.notFoundStatus, body: "", details: "cluster_not_found")
        }
        let cluster = worker.clusters[handle.index]
        self.cluster = cluster
        if cluster.usesRequestHash, !action.hashPolicy.isEmpty {
            requestHash = RequestHash.compute(action.hashPolicy, request: request, sourceIP: downstreamRemoteIP,
                                              newCookie: &hashCookie)
        }
        if let upgradeType {
            let allowed = action.upgrades[upgradeType] ?? hcm.upgrades[upgradeType] ?? false
            guard allowed else {
                shard.inc(stats.rqWsOnNonWsRoute)
                encoder.closeAfterResponse()
                return sendLocalReply(403, body: "", details: "upgrade_failed")
            }
            // Over HTTP/2 an upgrade is an extended CONNECT, which the cluster must allow.
            if cluster.codec(downstream: connection.httpProtocol) == .http2,
               !cluster.definition.config.upstreamProtocol.http2.allowConnect {
                encoder.closeAfterResponse()
                return sendLocalReply(403, body: "", details: "upgrade_failed")
            }
        }
        // Timeouts and retries, with Envoy's request header overrides (trusted requests only:
        // edge requests lost their x-envoy-* headers in the connection manager).
        routeTimeout = action.timeout
        if let header = request.headers.first("x-envoy-upstream-rq-timeout-ms"), let ms = Int64(header), ms >= 0 {
            routeTimeout = .milliseconds(ms)
        }
        if request.headers.contains("x-envoy-upstream-rq-timeout-alt-response") { timeoutResponseCode = 204 }
        perTryTimeout = RetryState.perTryTimeout(policy: action.retryPolicy, headers: request.headers)
        perTryIdleTimeout = RetryState.perTryIdleTimeout(policy: action.retryPolicy)
        var policy = action.retryPolicy
        if policy == nil, request.headers.contains("x-envoy-retry-on") || request.headers.contains("x-envoy-retry-grpc-on") {
            policy = RetryPolicy()
        }
        if let policy, upgradeType == nil,
           policy.retriableRequestHeaders.allSatisfy({ $0.matches(CompiledRoute.headerValue($0.name, in: request)) }) {
            retry = RetryState(policy: policy, headers: request.headers, bodyLimit: action.retryBufferLimit)
        }
        // One pass: a request rarely carries any of them.
        if request.headers.entries.contains(where: { RetryState.consumes($0.name) }) {
            request.headers.removeAll { RetryState.consumes($0.name) }
        }
        guard let host = cluster.pickHost(hash: requestHash) else { return sendNoHealthyUpstream() }
        prepareUpstreamRequest(action, host: host)
        encoder.pauseRequestBody()
        if requestEnded { startRouteTimer() }
        armTimer()
        startAttempt(on: host)
    }

    /// One try of the request on `host`.
    func startAttempt(on host: UpstreamHost) {
        guard let cluster else { return }
        self.host = host
        attemptCount += 1
        retry?.attemptedHosts.append(host.addressString)
        if attemptCount > 1 {
            if case .auto? = routeAction?.hostRewrite, !host.hostname.isEmpty { request.authority = host.hostname }
            if request.headers.contains("x-envoy-expected-rq-timeout-ms") { setExpectedTimeout(&request.headers) }
        }
        if virtualHost?.includeRequestAttemptCount == true { request.headers.set("x-envoy-attempt-count", String(attemptCount)) }
        let clusterStats = cluster.definition.stats
        shard.add(clusterStats.upstreamRqActive, 1)
        attemptActive = true
        upstreamRequestEnded = false
        upstreamStarted = nil
        perTryDeadline = nil
        isAwaitingConnection = true
        upstreamCodec = cluster.codec(downstream: connection.httpProtocol, host: host, upgrade: upgradeType != nil)
        let pool = cluster.pool(for: host, codec: upstreamCodec)
        self.pool = pool
        pool.newStream(self)
    }

    /// `x-envoy-expected-rq-timeout-ms`: what the upstream has to answer within, the per-try
    /// timeout or the time left of the route timeout, whichever is shorter (Envoy's
    /// setTimeoutHeaders, which counts from the end of the request).
    func setExpectedTimeout(_ headers: inout HeaderMap) {
        guard !hcm.router.suppressEnvoyHeaders else { return }
        var expected = perTryTimeout ?? .zero
        if routeTimeout > .zero {
            let left = max(routeTimeout - (worker.now - (requestEndedAt ?? worker.now)), .milliseconds(1))
            expected = expected > .zero ? min(expected, left) : left
        }
        if expected > .zero { headers.setLowercased("x-envoy-expected-rq-timeout-ms", String(expected.nanoseconds / 1_000_000)) }
    }

    /// Picks the host for a retry, avoiding hosts already tried when the policy asks for it.
    private func pickRetryHost() -> UpstreamHost? {
        guard let cluster else { return nil }
        var chosen = cluster.pickHost(hash: requestHash)
        guard let retry, retry.policy.avoidPreviousHosts else { return chosen }
        var tries = retry.policy.hostSelectionRetryMaxAttempts
        while let candidate = chosen, retry.attemptedHosts.contains(candidate.addressString), tries > 0 {
            chosen = cluster.pickHost(hash: requestHash)
            tries -= 1
        }
        return chosen
    }

    func endAttempt() {
        attemptActivityAt = nil
        upstreamStreamDeadline = nil
        guard attemptActive, let cluster else { return }
        attemptActive = false
        shard.add(cluster.definition.stats.upstreamRqActive, -1)
    }

    /// Schedules the next attempt if the policy has one left; false when the failure stands.
    func tryRetry() -> Bool {
        guard let retry, let cluster, !responseStarted, !finished, !retry.bodyOverflowed else { return false }
        // As Envoy's setupRetry: a request still streaming its body is not retried.
        guard requestEnded else {
            shard.inc(stats.rqRetrySkippedRequestNotComplete)
            return false
        }
        let clusterStats = cluster.definition.stats
        guard retry.retriesLeft > 0 else {
            shard.inc(clusterStats.upstreamRqRetryLimitExceeded)
            flags.insert(.upstreamRetryLimitExceeded)
            return false
        }
        if !retry.holdsRetrySlot {
            guard cluster.resources.tryStartRetry() else {
                shard.inc(clusterStats.upstreamRqRetryOverflow)
                flags.insert(.upstreamOverflow)
                return false
            }
            retry.holdsRetrySlot = true
        }
        retry.retriesLeft -= 1
        let delay = retry.backoff(random: &worker.random)
        retry.retriesDone += 1
        shard.inc(clusterStats.upstreamRqRetry)
        shard.inc(clusterStats.upstreamRqRetryBackoffExponential)
        retryAt = worker.now + delay
        armTimer()
        return true
    }

    /// The backoff elapsed: try again.
    func startRetryAttempt() {
        guard !finished else { return }
        guard let host = pickRetryHost() else { return sendNoHealthyUpstream() }
        startAttempt(on: host)
    }

    func sendNoHealthyUpstream() {
        flags.insert(.noHealthyUpstream)
        chargeUpstreamAbort(503)
        sendLocalReply(503, body: "no healthy upstream", details: "no_healthy_upstream")
    }

    /// The router answers for a failed upstream (Envoy's `chargeUpstreamAbort`): its status
    /// counts as the upstream's, unless part of a response already went downstream.
    func chargeUpstreamAbort(_ status: Int) {
        guard !responseStarted, let cluster else { return }
        worker.chargeUpstreamCode(cluster, status)
    }

    /// An attempt failed without a response: retry if the policy says so, else answer with `reply`.
    func attemptFailed(_ failure: RetryState.Failure, reply: () -> Void) {
        endAttempt()
        if let retry, retry.retries(failure), tryRetry() { return }
        reply()
    }

    /// Turns the request into what the upstream sees, in place: rewrites, header mutations in
    /// Envoy's order, and the x-envoy headers Envoy adds.
    func prepareUpstreamRequest(_ action: CompiledRouteAction, host: UpstreamHost) {
        upstreamPrepared = true
        let originalPath = request.path
        var head = request
        request = RequestHead(method: "", path: "", authority: nil)
        if let route, let prefix = action.prefixRewrite, case .prefix(let matched) = route.path {
            let path = head.pathWithoutQuery
            if path.count >= matched.count {
                let query = head.query.map { "?" + $0 } ?? ""
                head.path = prefix + path.dropFirst(matched.count) + query
            }
        } else if let (regex, substitution) = action.regexRewrite {
            let query = head.query.map { "?" + $0 } ?? ""
            head.path = RegexRewrite.replaceAll(regex, in: String(head.pathWithoutQuery), with: substitution) + query
        }
        let originalHost = head.authority
        if let literal = weightedTarget?.hostRewriteLiteral {
            head.authority = literal
        } else {
            switch action.hostRewrite {
            case .literal(let value)?: head.authority = value
            case .auto?: if !host.hostname.isEmpty { head.authority = host.hostname }
            case .header(let name)?: if let value = head.headers.first(name) { head.authority = value }
            case .pathRegex(let regex, let substitution)?:
                head.authority = RegexRewrite.replaceAll(regex, in: String(head.pathWithoutQuery), with: substitution)
            case nil: break
            }
        }
        if action.appendXForwardedHost, head.authority != originalHost, let originalHost {
            if let existing = head.headers.first("x-forwarded-host") {
                head.headers.setLowercased("x-forwarded-host", existing + "," + originalHost)
            } else {
                head.headers.addLowercased("x-forwarded-host", originalHost)
            }
        }
        // Set before the header mutations, as Envoy's router does (finalTimeout, then
        // finalizeRequestHeaders); each attempt updates the value (startAttempt).
        setExpectedTimeout(&head.headers)
        applyRequestMutations(&head.headers)
        if head.path != originalPath, !hcm.router.suppressEnvoyHeaders {
            head.headers.setLowercased("x-envoy-original-path", originalPath)
        }
        if virtualHost?.includeRequestAttemptCount == true { head.headers.set("x-envoy-attempt-count", String(attemptCount + 1)) }
        // Body framing goes last, as Envoy's codec writes it.
        if let te = head.headers.first("transfer-encoding") {
            head.headers.remove("transfer-encoding")
            head.headers.addLowercased("transfer-encoding", te)
        }
        if upgradeType != nil {
            head.headers.addLowercased("connection", "upgrade")
        }
        request = head
    }

    /// Route configuration, virtual host, route and weighted-cluster header mutations, least
    /// specific applied last (so it wins) unless most_specific_header_mutations_wins.
    // MARK: pool callbacks

    func onPoolReady(_ connection: any UpstreamStream) {
        isAwaitingConnection = false
        guard !finished, upstreamPrepared else {
            connection.complete(requestEnded: true)
            return
        }
        upstream = connection
        pool?.outlier?.record(.connectSuccess)
        // Envoy counts upstream_rq_total when a request is attached to a connection, so a
        // connect failure is not an upstream request.
        if let cluster { shard.inc(cluster.definition.stats.upstreamRqTotal) }
        upstreamLocal = connection.localAddress
        upstreamStarted = worker.now
        lastActivity = upstreamStarted!
        if let cap = cluster?.definition.maxStreamDuration { upstreamStreamDeadline = upstreamStarted! + cap }
        if perTryIdleTimeout != nil { attemptActivityAt = upstreamStarted }
        // A body a filter buffered goes on every attempt; else a retry replays what it kept.
        let replay = requestBodyBuffer?.chunks ?? (attemptCount > 1 ? (retry?.body ?? []) : [])
        if replay.isEmpty {
            connection.sendHeaders(request, endStream: requestEnded)
        } else {
            connection.sendHeaders(request, endStream: false)
            for (i, chunk) in replay.enumerated() { connection.sendData(chunk, endStream: requestEnded && i == replay.count - 1) }
        }
        if requestEnded {
            markUpstreamRequestEnded()
        } else {
            encoder.resumeRequestBody()
        }
    }

    /// The whole request reached the upstream: the per-try timeout starts now (as Envoy's).
    func markUpstreamRequestEnded() {
        upstreamRequestEnded = true
        lastUpstreamTxAt = worker.now
        if let perTry = perTryTimeout {
            perTryDeadline = worker.now + perTry
            armTimer()
        }
    }

    func onPoolFailure(_ kind: UpstreamResetKind, reason: String) {
        isAwaitingConnection = false
        guard !finished else { return }
        pool?.counters.rqError += 1
        pool?.outlier?.record(.connectFailed)
        let transport = String(reason.map { $0 == " " ? "_" : $0 })
        upstreamFailureReason = transport
        attemptFailed(.connectFailure) {
            flags.insert(.upstreamConnectionFailure)
            let timedOut = reason == "connection timeout"
            chargeUpstreamAbort(503)
            let reasonText = timedOut ? "connection timeout" : "remote connection failure"
            let detailReason = timedOut ? "connection_timeout" : "remote_connection_failure"
            // Envoy names the transport failure for a refused connect, not for a timeout.
            sendLocalReply(503, body: RetryState.resetBody(reasonText, retried: attemptCount > 1),
                           details: "upstream_reset_before_response_started{\(detailReason)" + (timedOut ? "}" : "|\(transport)}"))
        }
    }

    /// A circuit breaker refused the request (max_pending_requests or max_requests): 503 UO,
    /// never retried, as Envoy's Overflow pool failure.
    func onPoolOverflow() {
        isAwaitingConnection = false
        guard !finished else { return }
        endAttempt()
        flags.insert(.upstreamOverflow)
        chargeUpstreamAbort(503)
        var headers: HeaderMap?
        if !hcm.router.suppressEnvoyHeaders {
            headers = HeaderMap()
            headers?.addLowercased("x-envoy-overloaded", "true")
        }
        sendLocalReply(503, body: RetryState.resetBody("overflow", retried: attemptCount > 1),
                       details: "upstream_reset_before_response_started{overflow}", extraHeaders: headers)
    }
}

/// Why an upstream request failed.
enum UpstreamResetKind: Equatable {
    case connectionFailure
    case connectionTermination
    case protocolError
    case localReset
    /// HTTP/2: the peer reset the stream with REFUSED_STREAM, or left it unprocessed by GOAWAY.
    case refusedStream
    /// HTTP/2: the peer reset the stream with another code.
    case remoteReset

    var detail: String {
        switch self {
        case .connectionFailure: "connection_failure"
        case .connectionTermination: "connection_termination"
        case .protocolError: "protocol_error"
        case .localReset: "local_reset"
        case .refusedStream: "remote_refused_stream_reset"
        case .remoteReset: "remote_reset"
        }
    }

    /// The reason in a local reply before the response started (Envoy's reset reason string).
    var replyDetail: String {
        switch self {
        case .protocolError, .refusedStream, .remoteReset: detail
        default: UpstreamResetKind.connectionTermination.detail
        }
    }

    /// Envoy's response flag for the reset reason (streamResetReasonToResponseFlag).
    var responseFlag: ResponseFlags {
        switch self {
        case .protocolError: .upstreamProtocolError
        case .refusedStream, .remoteReset: .upstreamRemoteReset
        default: .upstreamConnectionTermination
        }
    }

    var retryFailure: RetryState.Failure {
        switch self {
        case .protocolError: .protocolError
        case .refusedStream: .refusedStream
        default: .reset
        }
    }
}
