import FerryTelemetry
import NIOCore

/// Stream timeouts: the route timeout, the request timeout and the stream idle timeout
/// (measured from the last activity in either direction). The worker's `StreamTimers` calls
/// `checkTimers` every tick while the stream is registered; traffic only updates timestamps.
extension ActiveStream {
    func startRouteTimer() {
        guard routeAction != nil, routeTimeout > .zero, routeDeadline == nil, !responseStarted, cluster != nil else { return }
        routeDeadline = (requestEndedAt ?? worker.now) + routeTimeout
    }

    /// Registers with the worker's timer tick if any timeout applies.
    func armTimer() {
        guard !finished, timerIndex < 0 else { return }
        if routeDeadline != nil || requestDeadline != nil || idleTimeout != nil || routeAction != nil || streamDeadline != nil {
            worker.timers.add(self)
        }
    }

    func checkTimers(now: NIODeadline) {
        guard !finished else { return worker.timers.remove(self) }
        if let deadline = streamDeadline, deadline <= now { return onMaxStreamDuration() }
        if let deadline = upstreamStreamDeadline, deadline <= now { return onUpstreamMaxStreamDuration() }
        if let deadline = routeDeadline, deadline <= now {
            routeDeadline = nil
            return onRouteTimeout()
        }
        if let deadline = perTryDeadline, deadline <= now {
            perTryDeadline = nil
            return onPerTryTimeout()
        }
        if let idle = perTryIdleTimeout, let at = attemptActivityAt, at + idle <= now {
            attemptActivityAt = nil
            return onPerTryTimeout(idle: true)
        }
        if let at = retryAt, at <= now {
            retryAt = nil
            return startRetryAttempt()
        }
        if let deadline = requestDeadline, deadline <= now, !requestEnded {
            requestDeadline = nil
            shard.inc(stats.rqTimeout)
            abortUpstream()
            encoder.closeAfterResponse()
            return sendLocalReply(408, body: "request timeout", details: "request_overall_timeout")
        }
        if let idle = idleTimeout, lastActivity + idle <= now {
            shard.inc(stats.rqIdleTimeout)
            flags.insert(.streamIdleTimeout)
            abortUpstream()
            if !requestEnded { encoder.closeAfterResponse() }
            // Envoy: 504 when the request was complete and the upstream went quiet, else 408.
            return sendLocalReply(requestEnded ? 504 : 408, body: "stream timeout", details: "stream_idle_timeout")
        }
    }

    /// A per-try timeout (`per_try_timeout`) or per-try idle timeout (`per_try_idle_timeout`):
    /// the attempt fails and is retried on the policy's conditions; when it stands, 504 `UT`.
    private func onPerTryTimeout(idle: Bool = false) {
        if let cluster {
            let stats = cluster.definition.stats
            shard.inc(idle ? stats.upstreamRqPerTryIdleTimeout : stats.upstreamRqPerTryTimeout)
        }
        pool?.counters.rqTimeout += 1
        pool?.outlier?.record(.timeout(status: timeoutResponseCode))
        abortUpstream()
        attemptFailed(.perTryTimeout) {
            flags.insert(.upstreamRequestTimeout)
            chargeUpstreamAbort(timeoutResponseCode)
            sendLocalReply(timeoutResponseCode, body: "upstream request timeout",
                           details: idle ? "upstream_per_try_idle_timeout" : "upstream_per_try_timeout")
        }
    }

    private func onRouteTimeout() {
        if let cluster { shard.inc(cluster.definition.stats.upstreamRqTimeout) }
        pool?.counters.rqTimeout += 1
        pool?.outlier?.record(.timeout(status: timeoutResponseCode))
        flags.insert(.upstreamRequestTimeout)
        abortUpstream()
        chargeUpstreamAbort(timeoutResponseCode)
        sendLocalReply(timeoutResponseCode, body: "upstream request timeout", details: "response_timeout")
    }
}
