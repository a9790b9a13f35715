import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// One request/response exchange, independent of the downstream protocol.
///
/// Life of a stream (see docs/ARCHITECTURE.md): the codec delivers the request head →
/// connection-manager checks and header rules → route lookup → the route's action (direct
/// response, redirect, or the router: cluster choice, host pick, pooled connection) →
/// request body streamed upstream → response streamed downstream → completion (stats,
/// access log). Every step runs on the connection's event loop; a stream holds the
/// generation it started with until it finishes.
final class ActiveStream {
    // The worker outlives every stream; the codec finishes its stream before it goes away.
    unowned(unsafe) let worker: Worker
    unowned(unsafe) let encoder: any StreamEncoder
    let connection: DownstreamConnectionInfo
    let listener: CompiledListener
    let hcm: CompiledHCM
    let generation: ConfigGeneration

    // Request.
    var request: RequestHead
    /// The request as received, before rewrites (for logs and redirects).
    let receivedPath: String
    let requestHeadersBytes: UInt64
    var requestEnded = false
    var bodyBytesReceived: UInt64 = 0
    /// Trailers that ended an HTTP/2 request: an HTTP/2 upstream gets them after the body (each
    /// attempt, as retries replay the body); HTTP/1 upstreams drop them, as Envoy does without
    /// `enable_trailers`.
    var requestTrailers: HeaderMap?
    var downstreamRemote: String?
    /// The client's IP address (trusted x-forwarded-for applied), for hash_policy source_ip.
    var downstreamRemoteIP: String?
    var upgradeType: String?

    // Routing.
    var virtualHost: CompiledVirtualHost?
    var route: CompiledRoute?
    var routeAction: CompiledRouteAction?
    /// This stream's filter objects (empty when only the router is configured).
    var filters: [ChainedFilter] = []
    /// Every hook some filter of `filters` takes.
    var filterHooks: FilterHooks = []
    /// The next filter whose decode hook runs.
    var decodeFilterIndex = 0
    /// A filter's pending wake-up (`wake(after:)`).
    var filterWake: Scheduled<Void>?
    var interceptingResponse = false
    /// A filter holding response body asked for no more (`pauseResponseBody`).
    var responseBodyPaused = false
    /// The request body a filter holds back (`bufferRequestBody`); the router sends it.
    var requestBodyBuffer: RequestBodyBuffer?
    /// Filters that see (and may rewrite) request body chunks (`transformRequestBody(by:)`).
    var requestBodyFilters: [StreamFilter] = []
    /// The per-stream state of the filters whose one object serves every stream.
    var filterState = FilterStreamState()
    /// A request a filter turned into gRPC (gRPC-Web, or JSON by the transcoder): local replies
    /// stay plain HTTP, as Envoy decides gRPC-ness from the client's head before the filters run.
    var translatedToGRPC = false
    var isHealthCheck = false
    var weightedTarget: CompiledRouteAction.WeightedTarget?
    var cluster: WorkerCluster?
    /// The route's hash_policy result, for ring hash and Maglev clusters.
    var requestHash: UInt64?
    /// A hash-policy cookie to set on the response (cookie policy with a ttl, cookie absent).
    var hashCookie: RequestHash.NewCookie?
    var host: UpstreamHost?
    var pool: (any UpstreamPool)?

    // Upstream. The request is rewritten in place for the upstream (as Envoy does), so access
    // logs see the forwarded headers; `receivedPath` keeps the original path.
    var upstream: (any UpstreamStream)?
    /// The codec of the current attempt (`%UPSTREAM_PROTOCOL%`).
    var upstreamCodec: UpstreamCodec = .http1
    var upstreamPrepared = false
    var upstreamMethod: String { request.method }
    var isAwaitingConnection = false
    var upstreamStarted: NIODeadline?
    var upstreamRequestEnded = false
    var attemptActive = false
    var retry: RetryState?
    /// The route timeout in force (route config or x-envoy-upstream-rq-timeout-ms).
    var routeTimeout: TimeAmount = .seconds(15)
    /// 504, or 204 when a trusted client sent x-envoy-upstream-rq-timeout-alt-response.
    var timeoutResponseCode = 504
    /// The codec refused the request (a parse error, HTTP/1.0 without accept_http_10): as in
    /// Envoy, logs and local-reply mappers see no request headers and protocol HTTP/1.1.
    var codecRefused = false
    var retryAt: NIODeadline?
    var perTryDeadline: NIODeadline?
    /// `per_try_timeout` / `per_try_idle_timeout` of the route's retry policy (or the trusted
    /// header), in force with or without retries.
    var perTryTimeout: TimeAmount?
    var perTryIdleTimeout: TimeAmount?
    /// Last upstream traffic of the current attempt, for `per_try_idle_timeout`.
    var attemptActivityAt: NIODeadline?
    var tunneling = false
    var attemptCount = 0
    var upstreamFailureReason: String?
    var upstreamLocal: String?

    // Response.
    var responseHead: ResponseHead?
    var responseTrailers: HeaderMap?
    var responseStarted = false
    /// A filter holds the head back until the body is known (`deferResponseHead`).
    var responseHeadDeferred = false
    var responseEnded = false
    var bodyBytesSent: UInt64 = 0
    var responseHeadersBytes: UInt64 = 0
    var flags = OrderedResponseFlags()
    var details: String?
    var localBody: String?
    var isLocalReply = false
    /// Status of a local reply being built, so local_reply_config filters see it.
    var pendingLocalStatus: Int?

    // Timing (monotonic).
    let started: NIODeadline
    let startedWallNanos: Int64
    var requestEndedAt: NIODeadline?
    var firstUpstreamByteAt: NIODeadline?
    var firstTxAt: NIODeadline?
    var lastTxAt: NIODeadline?
    var lastUpstreamTxAt: NIODeadline?
    var finishedAt: NIODeadline?

    // Timers (checked by the worker's StreamTimers tick).
    var timerIndex = -1
    var routeDeadline: NIODeadline?
    /// `max_stream_duration` (route or connection manager) or the request's `grpc-timeout`.
    var streamDeadline: NIODeadline?
    /// The cluster's `max_stream_duration` for the current upstream request.
    var upstreamStreamDeadline: NIODeadline?
    var requestDeadline: NIODeadline?
    var idleTimeout: TimeAmount?
    var lastActivity: NIODeadline
    var finished = false

    init(worker: Worker, encoder: any StreamEncoder, connection: DownstreamConnectionInfo, listener: CompiledListener,
         hcm: CompiledHCM, generation: ConfigGeneration, head: consuming RequestHead, headerBytes: Int, started: NIODeadline) {
        self.worker = worker
        self.encoder = encoder
        self.connection = connection
        self.listener = listener
        self.hcm = hcm
        self.generation = generation
        // The head is moved in, not copied: the connection manager then mutates the only
        // reference to its header array (a shared one is copied on the first change).
        self.receivedPath = head.path
        self.request = head
        self.requestHeadersBytes = UInt64(headerBytes)
        self.started = started
        self.startedWallNanos = worker.clock.wallNanos(at: started)
        self.lastActivity = started
        self.idleTimeout = hcm.streamIdleTimeout
    }

    var stats: HCMStats { hcm.stats }
    var shard: StatsShard { worker.stats }

    // MARK: request head

    /// The codec parsed a request head. `endStream` is true when it has no body.
    func decodeHeaders(endStream: Bool) {
        shard.inc(stats.rqTotal)
        shard.inc(request.version == .http2 ? stats.rqHTTP2Total : stats.rqHTTP1Total)
        shard.add(stats.rqActive, 1)
        if endStream { markRequestEnded() }
        if let timeout = hcm.requestTimeout, !endStream { requestDeadline = started + timeout }
        armTimer()

        // headers_with_underscores_action, a codec rule in Envoy (before the HTTP/1.0 check).
        if hcm.config.headersWithUnderscoresAction != .allow, request.headers.contains(where: { $0.name.utf8.contains(UInt8(ascii: "_")) }) {
            if hcm.config.headersWithUnderscoresAction == .rejectRequest {
                shard.inc(stats.requestsRejectedWithUnderscores)
                codecRefused = true
                flags.insert(.downstreamProtocolError)
                encoder.closeAfterResponse()
                return sendLocalReply(400, body: "Bad Request", details: "http1.unexpected_underscore")
            }
            let before = request.headers.count
            request.headers.removeAll { $0.name.utf8.contains(UInt8(ascii: "_")) }
            shard.inc(stats.droppedHeadersWithUnderscores, by: UInt64(before - request.headers.count))
        }
        if request.version == .http10 && !hcm.config.acceptHTTP10 {
            codecRefused = true
            flags.insert(.downstreamProtocolError)
            encoder.closeAfterResponse()
            return sendLocalReply(426, body: "Upgrade Required", details: "low_version")
        }
        if request.authority == nil || request.authority!.isEmpty {
            if request.version == .http10, let host = hcm.config.defaultHostForHTTP10 {
                request.authority = host
            } else {
                return refuseInvalidRequest(details: "missing_host_header")
            }
        }
        if var authority = request.authority {
            if hcm.config.stripTrailingHostDot, authority.hasSuffix(".") { authority.removeLast() }
            if hcm.config.stripAnyHostPort || hcm.config.stripMatchingHostPort, let colon = authority.lastIndex(of: ":"),
               !authority.hasSuffix("]") {
                let port = authority[authority.index(after: colon)...]
                if hcm.config.stripAnyHostPort || Int(port) == connection.localAddress?.port { authority = String(authority[..<colon]) }
            }
            request.authority = authority
        }
        // http_protocol_options.allow_absolute_url: false keeps `GET http://h/p` as a path that
        // does not start with "/", which Envoy's connection manager refuses with a 404.
        if request.absoluteForm && !hcm.config.allowAbsoluteURL {
            return sendLocalReply(404, body: "", details: "absolute_path_rejected")
        }
        // A fragment is never part of a request target (RFC 9112 §3.2, RFC 9113 §8.3.1);
        // Envoy 1.40 refuses it as a failed normalization rather than guess what was meant.
        if request.path.utf8.contains(UInt8(ascii: "#")) {
            shard.inc(stats.rqFailedPathNormalization)
            return refuseInvalidRequest(details: "path_normalization_failed")
        }
        if hcm.config.normalizePath || hcm.config.mergeSlashes || hcm.config.pathWithEscapedSlashesAction != .implementationSpecificDefault {
            switch PathNormalizer.apply(request.path, normalize: hcm.config.normalizePath, mergeSlashes: hcm.config.mergeSlashes,
                                        escapedSlashes: hcm.config.pathWithEscapedSlashesAction) {
            case .unchanged: break
            case .rewritten(let path): request.path = path
            case .reject:
                shard.inc(stats.rqFailedPathNormalization)
                return refuseInvalidRequest(details: "path_normalization_failed")
            case .redirect(let path):
                var headers = HeaderMap()
                headers.addLowercased("location", path)
                return sendLocalReply(307, body: "", details: "path_normalization_redirect", extraHeaders: headers)
            }
        }
        upgradeType = RequestHeaderRules.stripHopByHop(&request.headers)
        for name in hcm.routeConfig.internalOnlyHeaders { request.headers.remove(name) }
        if connection.tls != nil { request.scheme = "https" }  // x-forwarded-proto and redirects say https
        if !hcm.config.forwardClientCertDetails.keepsHeader(mutualTLS: connection.tls?.mutualTLS ?? false) {
            request.headers.remove("x-forwarded-client-cert")
        }
        let forwarding = RequestHeaderRules.applyForwarding(&request, hcm: hcm.forwarding, peerIP: connection.remoteIP, scheme: request.scheme,
                                                            localPort: connection.localAddress?.port)
        // An address taken from x-forwarded-for has no port; Envoy logs it with port 0.
        downstreamRemoteIP = forwarding.remote ?? connection.remoteIP
        downstreamRemote = forwarding.remote.map { ip in
            if ip == connection.remoteIP { return connection.remoteString ?? ip }
            return ip.contains(":") ? "[\(ip)]:0" : "\(ip):0"
        }
        if hcm.config.generateRequestID {
            let existing = request.headers.first("x-request-id")
            if existing == nil || (forwarding.edge && !hcm.config.preserveExternalRequestID) {
                request.headers.setLowercased("x-request-id", RequestHeaderRules.uuid(&worker.random))
            }
        }
        routeRequest()
    }

    /// An empty 400 for a request the connection manager finds invalid after its head was read
    /// (Envoy 1.40: no response flag). On HTTP/1 the connection then closes unless
    /// `stream_error_on_invalid_http_message` says to carry on; HTTP/2 only ends the stream.
    private func refuseInvalidRequest(details: String) {
        if !hcm.config.http1StreamErrorOnInvalidMessage { encoder.closeAfterResponse() }
        sendLocalReply(400, body: "", details: details)
    }

    // MARK: routing

    /// Resolves the route (filters may read it), runs the decode filters, then the router.
    private func routeRequest() {
        virtualHost = hcm.routeTable.virtualHost(for: request.authority)
        route = virtualHost?.route(for: request)
        startStreamDuration()
        if finished { return }
        if hcm.filterSlots.isEmpty { return runRouter() }
        startFilterChain()
    }

    /// The router: the terminal step of the filter chain.
    func runRouter() {
        guard let route else {
            shard.inc(stats.noRoute)
            flags.insert(.noRouteFound)
            return sendLocalReply(404, body: "", details: "route_not_found")
        }
        switch route.action {
        case .directResponse(let status, let body):
            shard.inc(stats.directResponse)
            let text = body.map { String(buffer: $0) } ?? ""
            sendLocalReply(status, body: text, details: "direct_response", applyRouteHeaders: true)
        case .redirect(let redirect):
            // Envoy 1.40 counts a redirect route as a direct response (rq_redirect stays for
            // internal redirects, which Ferry does not follow).
            shard.inc(stats.directResponse)
            var headers = HeaderMap()
            headers.addLowercased("location", redirectLocation(redirect))
            sendLocalReply(redirect.responseCode.status, body: "", details: "direct_response", extraHeaders: headers,
                           applyRouteHeaders: true)
        case .route(let action):
            routeAction = action
            if let routeIdle = action.idleTimeout { idleTimeout = routeIdle == .zero ? nil : routeIdle }
            startRouter(action)
        }
    }

    private func redirectLocation(_ redirect: RedirectAction) -> String {
        let scheme = redirect.scheme ?? request.scheme
        var authority = redirect.host ?? request.authority ?? ""
        if let port = redirect.port {
            if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") { authority = String(authority[..<colon]) }
            authority += ":\(port)"
        } else if redirect.scheme != nil, redirect.scheme != request.scheme, let colon = authority.lastIndex(of: ":"),
                  !authority.hasSuffix("]"),
                  authority[authority.index(after: colon)...] == (request.scheme == "https" ? "443" : "80") {
            // Changing scheme drops the old scheme's default port only; any other port stays
            // (Envoy 1.40: http://a:80 → https://a, http://a:8080 → https://a:8080, :443 kept too).
            authority = String(authority[..<colon])
        }
        var pathPart = String(request.pathWithoutQuery)
        var query = request.query.map { "?" + $0 } ?? ""
        switch redirect.pathRewrite {
        case .path(let p)?:
            if let q = p.firstIndex(of: "?") {
                pathPart = String(p[..<q])
                query = String(p[q...])
            } else {
                pathPart = p
            }
        case .prefix(let p)?:
            if case .prefix(let matched)? = route?.path, pathPart.hasPrefix(matched) {
                pathPart = p + pathPart.dropFirst(matched.count)
            }
        case .regex(let regex, let substitution)?:
            pathPart = RegexRewrite.replaceAll(regex, in: pathPart, with: substitution)
        case nil:
            break
        }
        if redirect.stripQuery { query = "" }
        return "\(scheme)://\(authority)\(pathPart)\(query)"
    }

    // MARK: request body

    func decodeData(_ data: ByteBuffer, endStream: Bool) {
        bodyBytesReceived += UInt64(data.readableBytes)
        lastActivity = worker.now
        var data = data
        if !requestBodyFilters.isEmpty {
            for filter in requestBodyFilters {
                filter.decodeData(self, &data, endStream: endStream)
                if finished { return }
            }
        }
        if requestBodyBuffer != nil, bufferRequestData(data, endStream: endStream) { return }
        if let retry, !retry.keep(data), let cluster { shard.inc(cluster.definition.stats.retryOrShadowAbandoned) }
        if let upstream, !finished {
            attemptActivityAt = worker.now
            upstream.sendData(data, endStream: endStream)
            if endStream { markUpstreamRequestEnded() }
            if !upstream.isWritable { encoder.pauseRequestBody() }
        }
        if endStream { onRequestComplete() }
    }

    func decodeTunnel(_ data: ByteBuffer) {
        bodyBytesReceived += UInt64(data.readableBytes)
        lastActivity = worker.now
        upstream?.sendTunnel(data)
        if let upstream, !upstream.isWritable { encoder.pauseRequestBody() }
    }

    /// The downstream ended its side of a tunnel (an HTTP/2 client's END_STREAM after an
    /// extended CONNECT): the upstream hears a half-close and the tunnel ends when it closes.
    func endTunnelFromDownstream() {
        lastActivity = worker.now
        upstream?.endTunnel()
    }

    /// The downstream read cycle ended: push buffered upstream writes out.
    func downstreamReadComplete() { upstream?.flush() }

    private func markRequestEnded() {
        requestEnded = true
        requestEndedAt = worker.now
    }

    func onRequestComplete() {
        guard !requestEnded else { return }
        markRequestEnded()
        requestDeadline = nil
        startRouteTimer()
    }

    /// The downstream can take more bytes again.
    func downstreamWritabilityChanged(_ writable: Bool) {
        if writable && !responseBodyPaused { upstream?.resumeReading() }
    }
}
