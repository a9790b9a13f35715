import FerryConfig
import NIOCore

/// `max_stream_duration`: a cap on the whole stream, counted from its start, as Envoy's
/// connection manager keeps it (`refreshDurationTimeout`). The route's setting wins over the
/// connection manager's `common_http_protocol_options.max_stream_duration`; with
/// `grpc_timeout_header_max` set, a request's `grpc-timeout` header is the cap instead
/// (limited by that maximum unless it is zero, minus `grpc_timeout_header_offset`).
extension ActiveStream {
    /// Sets the stream's deadline once the route is known (checked by the timer tick).
    func startStreamDuration() {
        guard let timeout = streamDuration() else { return }
        let elapsed = worker.now - started
        if timeout <= elapsed { return onMaxStreamDuration() }
        streamDeadline = started + timeout
        armTimer()
    }

    /// The cap for this request, nil when none applies.
    func streamDuration() -> TimeAmount? {
        guard case .route(let action)? = route?.action, let settings = action.maxStreamDuration else {
            return hcm.maxStreamDuration
        }
        if let headerMax = settings.grpcTimeoutHeaderMax, let header = request.headers.first("grpc-timeout"),
           var timeout = GRPCTimeout.parse(header) {
            let cap = TimeAmount(headerMax)
            if cap > .zero, timeout > cap { timeout = cap }
            if timeout != .zero, let offset = settings.grpcTimeoutHeaderOffset.map(TimeAmount.init) {
                timeout = offset < timeout ? timeout - offset : .zero
            }
            return timeout
        }
        guard let routeCap = settings.maxStreamDuration else { return hcm.maxStreamDuration }
        // An explicit zero turns the cap off, the connection manager's too.
        return routeCap == .zero ? nil : TimeAmount(routeCap)
    }

    /// Envoy's `onStreamMaxDurationReached`: 504 (408 while the request is still arriving)
    /// "downstream duration timeout", DEADLINE_EXCEEDED for a gRPC request, no response flag;
    /// a response already under way is reset.
    func onMaxStreamDuration() {
        streamDeadline = nil
        shard.inc(stats.rqMaxDurationReached)
        abortUpstream()
        sendLocalReply(requestEnded ? 504 : 408, body: "downstream duration timeout", details: "max_duration_timeout",
                       grpcStatus: 4)
    }

    /// The cluster's `common_http_protocol_options.max_stream_duration` ran out for the current
    /// upstream request (Envoy's router `onStreamMaxDurationReached`): the request is reset
    /// (retried as a reset when the policy says so), else 504 (408 while the request is still
    /// arriving) "upstream max stream duration reached", flag `UMSDR`; a gRPC request gets
    /// the mapped UNAVAILABLE.
    func onUpstreamMaxStreamDuration() {
        upstreamStreamDeadline = nil
        if let cluster { shard.inc(cluster.definition.stats.upstreamRqMaxDurationReached) }
        let connection = upstream
        upstream = nil
        connection?.abort()
        attemptFailed(.reset) {
            flags.insert(.upstreamMaxStreamDurationReached)
            sendLocalReply(requestEnded ? 504 : 408, body: "upstream max stream duration reached",
                           details: "upstream_max_stream_duration_reached")
        }
    }
}
