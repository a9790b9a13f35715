import NIOCore

/// Sending a request to another cluster after its upstream path failed (the fallback filter's
/// `backup_cluster`). The one entry point back into the router from a filter's takeover.
extension ActiveStream {
    /// Whether the request can be sent again: nothing of a response went out, the request is
    /// complete, and its body (if any) is held for replay by `RetryState` (a route with a
    /// `retry_policy` whose `retry_buffer` it fits). A route without a `route` action has no
    /// router to run again.
    var canReroute: Bool {
        guard !finished, !responseStarted, requestEnded, case .route? = route?.action else { return false }
        if bodyBytesReceived == 0 { return true }
        guard let retry, !retry.bodyOverflowed else { return false }
        return retry.bodyBytes == Int(bodyBytesReceived)
    }

    /// Resets the router's state for the failed attempt (its upstream connection, pool wait,
    /// timers, retry slot) and runs the router against `handle`: a host of that cluster, a
    /// fresh route timeout, the request as already prepared for the first cluster (rewrites and
    /// header mutations are not applied twice) or prepared now if the router never ran (the
    /// breaker refused it). Retries left in the route's policy apply to the new cluster.
    /// Returns false, changing nothing, when `canReroute` is false or the cluster is unknown.
    func reroute(to handle: ClusterHandle) -> Bool {
        guard canReroute, case .route(let action)? = route?.action, handle.index >= 0, handle.index < worker.clusters.count else {
            return false
        }
        abortUpstream()
        if isAwaitingConnection {
            pool?.cancel(self)
            isAwaitingConnection = false
        }
        endAttempt()
        if let retry, retry.holdsRetrySlot, let cluster {
            retry.holdsRetrySlot = false
            cluster.resources.finishRetry()
        }
        retryAt = nil
        perTryDeadline = nil
        attemptActivityAt = nil
        let cluster = worker.clusters[handle.index]
        self.cluster = cluster
        weightedTarget = nil
        routeAction = action
        if cluster.usesRequestHash, !action.hashPolicy.isEmpty {
            requestHash = RequestHash.compute(action.hashPolicy, request: request, sourceIP: downstreamRemoteIP, newCookie: &hashCookie)
        }
        guard let host = cluster.pickHost(hash: requestHash) else {
            sendNoHealthyUpstream()
            return true
        }
        if !upstreamPrepared {
            routeTimeout = action.timeout
            prepareUpstreamRequest(action, host: host)
        }
        // The backup gets the whole route timeout, from now.
        routeDeadline = routeTimeout > .zero ? worker.now + routeTimeout : nil
        armTimer()
        startAttempt(on: host)
        return true
    }
}
