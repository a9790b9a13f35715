import FerryConfig
import FerryPolicy
import NIOCore

/// The retry bookkeeping of one stream (Envoy's RetryState): which failures are retried, how
/// many retries are left, the backoff, the hosts already tried and the request body kept for
/// replay.
final class RetryState {
    enum Failure {
        case connectFailure
        case reset
        case protocolError
        case perTryTimeout
        /// An HTTP/2 stream the upstream refused (never processed).
        case refusedStream
    }

    let policy: RetryPolicy
    let conditions: RetryPolicy.Conditions
    let retriableStatusCodes: Set<Int>
    var retriesLeft: Int
    let perTryTimeout: TimeAmount?
    /// `per_try_idle_timeout`: an attempt with no upstream traffic either way for this long fails.
    let perTryIdleTimeout: TimeAmount?
    /// Hosts tried so far (for the previous_hosts predicate).
    var attemptedHosts: [String] = []
    /// Request body kept for replay while it fits.
    var body: [ByteBuffer] = []
    var bodyBytes = 0
    let bodyLimit: Int
    /// The body outgrew the buffer: the request streams and is no longer retried.
    var bodyOverflowed = false
    var retriesDone = 0
    /// A retry slot of the cluster's max_retries is held by this stream.
    var holdsRetrySlot = false

    init(policy: RetryPolicy, headers: HeaderMap, bodyLimit: Int) {
        self.policy = policy
        var conditions = policy.conditions
        var codes = policy.retriableStatusCodes
        var retries = Int(policy.numRetries)
        // Envoy's request headers extend and override the route's policy.
        if let on = headers.first("x-envoy-retry-on") {
            conditions.formUnion(RetryPolicy.Conditions.parse(on, table: RetryPolicy.Conditions.names).0)
        }
        if let on = headers.first("x-envoy-retry-grpc-on") {
            conditions.formUnion(RetryPolicy.Conditions.parse(on, table: RetryPolicy.Conditions.grpcNames).0)
        }
        if let max = headers.first("x-envoy-max-retries"), let n = Int(max), n >= 0 { retries = n }
        if let extra = headers.first("x-envoy-retriable-status-codes") {
            for part in extra.split(separator: ",") { if let n = Int(part.trimmingSpaces()) { codes.insert(n) } }
        }
        self.conditions = conditions
        retriableStatusCodes = codes
        retriesLeft = retries
        perTryTimeout = Self.perTryTimeout(policy: policy, headers: headers)
        perTryIdleTimeout = Self.perTryIdleTimeout(policy: policy)
        self.bodyLimit = bodyLimit
    }

    /// The route policy's `per_try_timeout`, overridden by a trusted client's
    /// `x-envoy-upstream-rq-per-try-timeout-ms`. Applies with or without retries (as Envoy's
    /// finalTimeout).
    static func perTryTimeout(policy: RetryPolicy?, headers: HeaderMap) -> TimeAmount? {
        if let header = headers.first("x-envoy-upstream-rq-per-try-timeout-ms"), let ms = Int64(header), ms > 0 {
            return .milliseconds(ms)
        }
        return policy?.perTryTimeout.map(TimeAmount.init).flatMap { $0 > .zero ? $0 : nil }
    }

    static func perTryIdleTimeout(policy: RetryPolicy?) -> TimeAmount? {
        policy?.perTryIdleTimeout.map(TimeAmount.init).flatMap { $0 > .zero ? $0 : nil }
    }

    /// Envoy's reply body when an upstream failed before its response: with "retried and the
    /// latest reset reason" once a retry was made.
    static func resetBody(_ reason: String, retried: Bool) -> String {
        "upstream connect error or disconnect/reset before headers. " + (retried ? "retried and the latest " : "")
            + "reset reason: " + reason
    }

    /// Headers the router consumes (Envoy does not forward them).
    static let consumedHeaders = ["x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries",
                                  "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
                                  "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-ms",
                                  "x-envoy-upstream-rq-timeout-alt-response", "x-envoy-upstream-alt-stat-name",
                                  "x-envoy-hedge-on-per-try-timeout"]
    private static let consumedSet = Set(consumedHeaders)

    /// Whether the router takes `name` (lower-case) off the request: one of `consumedHeaders`.
    @inline(__always)
    static func consumes(_ name: String) -> Bool {
        name.utf8.count > 8 && name.utf8.starts(with: "x-envoy-".utf8) && consumedSet.contains(name)
    }

    /// Keeps body bytes for replay; past the limit, gives up on retries for good. False only
    /// for the call that crossed the limit (Envoy's `retry_or_shadow_abandoned`).
    @discardableResult
    func keep(_ data: ByteBuffer) -> Bool {
        guard !bodyOverflowed else { return true }
        bodyBytes += data.readableBytes
        if bodyBytes > bodyLimit {
            bodyOverflowed = true
            body = []
            return false
        }
        body.append(data)
        return true
    }

    /// Whether `failure` is one the policy retries.
    func retries(_ failure: Failure) -> Bool {
        switch failure {
        case .connectFailure:
            return !conditions.intersection([.connectFailure, .fiveXX, .gatewayError, .reset]).isEmpty
        case .reset, .protocolError:
            return !conditions.intersection([.fiveXX, .gatewayError, .reset]).isEmpty
        case .refusedStream:
            return !conditions.intersection([.fiveXX, .gatewayError, .reset, .refusedStream]).isEmpty
        case .perTryTimeout:
            // A per-try timeout reads as a 504 from the upstream.
            return !conditions.intersection([.fiveXX, .gatewayError, .reset]).isEmpty
        }
    }

    /// Whether a response with `head` is one the policy retries.
    func retries(_ head: ResponseHead) -> Bool {
        // A response from an upstream Envoy's rate limiter is retried only under
        // envoy-ratelimited, whatever its status (Envoy's wouldRetryFromHeaders).
        if head.headers.contains("x-envoy-ratelimited") { return conditions.contains(.envoyRateLimited) }
        let status = head.status
        if conditions.contains(.fiveXX) && status >= 500 { return true }
        if conditions.contains(.gatewayError) && (status == 502 || status == 503 || status == 504) { return true }
        if conditions.contains(.retriable4xx) && status == 409 { return true }
        if conditions.contains(.retriableStatusCodes) && retriableStatusCodes.contains(status) { return true }
        if conditions.contains(.envoyRateLimited) && head.headers.contains("x-envoy-ratelimited") { return true }
        if conditions.contains(.retriableHeaders) {
            for matcher in policy.retriableHeaders where matcher.matches(head.headers.joined(matcher.name)) { return true }
        }
        if !conditions.isDisjoint(with: .anyGRPC), let text = head.headers.first("grpc-status"), let status = UInt64(text) {
            let condition = Self.grpcCondition(status)
            return !condition.isEmpty && conditions.contains(condition)
        }
        return false
    }

    /// The `retry_on` condition a `grpc-status` answers to (empty for the others).
    static func grpcCondition(_ status: UInt64) -> RetryPolicy.Conditions {
        switch status {
        case 1: .grpcCancelled
        case 4: .grpcDeadlineExceeded
        case 8: .grpcResourceExhausted
        case 13: .grpcInternal
        case 14: .grpcUnavailable
        default: []
        }
    }

    /// Full-jitter exponential backoff for the next retry: uniform in [0, min(max, base × 2^n)).
    func backoff(random: inout FastRandom) -> TimeAmount {
        let base = TimeAmount(policy.backOffBase).nanoseconds
        let cap = TimeAmount(policy.backOffMax).nanoseconds
        let ceiling = min(cap, base << min(retriesDone, 30))
        guard ceiling > 0 else { return .zero }
        return .nanoseconds(Int64(random.next(below: UInt64(ceiling))))
    }
}
