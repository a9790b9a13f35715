import FerryConfig
import FerryTelemetry
import NIOCore

/// One stream's fault injection, as Envoy 1.40's fault filter: for a request that matches
/// (`upstream_cluster`, `downstream_nodes`, `headers`), first maybe pace the response body
/// (`response_rate_limit`), then maybe delay the request (the body waits in the codec), then
/// maybe abort it with `fault filter abort`; after a delay the abort is drawn again. Each fault
/// happens on its share of requests (runtime may override it; with an
/// `x-envoy-downstream-service-cluster` header the `fault.http.<cluster>.*` keys replace the
/// delay and abort ones) and only while fewer than `max_active_faults` streams have one.
final class FaultFilter: StreamFilter {
    let settings: FaultSettings
    let shared: FaultShared
    private var config: HttpFilter.FaultConfig { @inline(__always) get { settings.config } }
    /// This stream counts in `active_faults` (once, whatever faults it gets).
    private var active = false
    /// `x-envoy-downstream-service-cluster`, when the request has one (maybe empty).
    private var downstreamCluster: String?
    private var pacer: FaultResponsePacer?

    init(settings: FaultSettings, shared: FaultShared) {
        self.settings = settings
        self.shared = shared
    }

    /// Only a response rate limit holds body parts.
    var hooks: FilterHooks { config.responseRateLimit == nil ? [.decodeHeaders, .onComplete] : [.decodeHeaders, .responseBody, .onComplete] }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        guard matchesUpstreamCluster(stream), matchesDownstreamNode(stream), matchesHeaders(stream) else {
            return .proceed
        }
        downstreamCluster = stream.request.headers.first("x-envoy-downstream-service-cluster")
        setUpResponseRateLimit(stream)
        if let delay = delayMilliseconds(stream), activate(stream) {
            record(shared.delaysInjected, "delays_injected", stream)
            stream.flags.insert(.delayInjected)
            stream.wake(after: .milliseconds(Int64(min(delay, Self.longestDelay)))) { [unowned stream, self] in
                self.delayElapsed(stream)
            }
            return .stop
        }
        if let status = abortStatus(stream), activate(stream) {
            abort(stream, status)
            return .stop
        }
        return .proceed
    }

    /// TimeAmount's range, in milliseconds (a header may ask for any 64-bit number).
    static let longestDelay: UInt64 = 9_000_000_000_000

    private func delayElapsed(_ stream: ActiveStream) {
        if let status = abortStatus(stream) { return abort(stream, status) }
        // The delay is over: unless the response is still to be paced, no fault is active.
        if config.responseRateLimit == nil { deactivate(stream) }
        stream.continueDecoding()
    }

    private func abort(_ stream: ActiveStream, _ status: (http: Int, grpc: UInt64?)) {
        record(shared.abortsInjected, "aborts_injected", stream)
        stream.flags.insert(.faultInjected)
        stream.sendLocalReply(status.http, body: "fault filter abort", details: "fault_filter_abort", grpcStatus: status.grpc)
    }

    func holdBody(_ stream: ActiveStream, _ part: BodyPart) -> Bool {
        pacer?.hold(part, stream: stream, filter: self) ?? false
    }

    func onComplete(_ stream: ActiveStream) { deactivate(stream) }

    // MARK: matching

    private func matchesUpstreamCluster(_ stream: ActiveStream) -> Bool {
        guard let wanted = config.upstreamCluster else { return true }
        return stream.routeClusterName() == wanted
    }

    // These take the stream, not its request: a RequestHead argument would be a copy.
    private func matchesDownstreamNode(_ stream: ActiveStream) -> Bool {
        guard !config.downstreamNodes.isEmpty else { return true }
        guard let node = stream.request.headers.first("x-envoy-downstream-service-node") else { return false }
        return config.downstreamNodes.contains(node)
    }

    private func matchesHeaders(_ stream: ActiveStream) -> Bool {
        config.headers.isEmpty || config.headers.allSatisfy { $0.matches(CompiledRoute.headerValue($0.name, in: stream.request)) }
    }

    // MARK: what to inject

    /// Whether this request draws a fault on `share` of requests. A header-controlled fault's
    /// share may be lowered (never raised) by the request's `percentageHeader`; with a
    /// downstream cluster, its `fault.http.<cluster>.<clusterKey>` runtime key replaces `key`.
    private func drawn(_ stream: ActiveStream, _ share: FractionalPercent, percentageHeader: String?, key: String,
                       clusterKey: String?) -> Bool {
        var share = share
        if let percentageHeader, let text = stream.request.headers.first(percentageHeader), let numerator = UInt32(text) {
            share.numerator = min(numerator, share.numerator)
        }
        var key = key
        if let clusterKey, let cluster = downstreamCluster { key = "fault.http.\(cluster).\(clusterKey)" }
        return stream.worker.featureEnabled(RuntimeFractionalPercent(share, runtimeKey: key))
    }

    private func delayMilliseconds(_ stream: ActiveStream) -> UInt64? {
        guard let delay = config.delay else { return nil }
        let percentageHeader = delay.source == .header ? "x-envoy-fault-delay-request-percentage" : nil
        guard drawn(stream, delay.percentage, percentageHeader: percentageHeader, key: config.runtimeKeys.delayPercent,
                    clusterKey: "delay.fixed_delay_percent") else { return nil }
        let configured: UInt64?
        switch delay.source {
        case .fixed(let milliseconds): configured = milliseconds
        case .header: configured = stream.request.headers.first("x-envoy-fault-delay-request").flatMap { UInt64($0) }
        }
        guard let configured else { return nil }
        var milliseconds = stream.worker.runtimeInteger(config.runtimeKeys.delayDuration, default: configured)
        if let cluster = downstreamCluster {
            milliseconds = stream.worker.runtimeInteger("fault.http.\(cluster).delay.fixed_duration_ms", default: milliseconds)
        }
        return milliseconds > 0 ? milliseconds : nil
    }

    /// The abort's HTTP status (and gRPC status), or nil for no abort. As Envoy, with a
    /// downstream cluster its status keys fall back to the configured status, not the
    /// general runtime key. Runtime statuses outside 200...599 are ignored.
    private func abortStatus(_ stream: ActiveStream) -> (http: Int, grpc: UInt64?)? {
        guard let abort = config.abort else { return nil }
        let percentageHeader = abort.source == .header ? "x-envoy-fault-abort-request-percentage" : nil
        guard drawn(stream, abort.percentage, percentageHeader: percentageHeader, key: config.runtimeKeys.abortPercent,
                    clusterKey: "abort.abort_percent") else { return nil }
        let worker = stream.worker
        let http: UInt64?
        switch abort.source {
        case .http(let status): http = UInt64(status)
        case .grpc: http = nil
        case .header:
            http = stream.request.headers.first("x-envoy-fault-abort-request").flatMap { UInt64($0) }.flatMap { (200..<600).contains($0) ? $0 : nil }
        }
        if let http {
            let key = downstreamCluster.map { "fault.http.\($0).abort.http_status" } ?? config.runtimeKeys.abortHTTPStatus
            let status = worker.runtimeInteger(key, default: http)
            return (Int((200..<600).contains(status) ? status : http), nil)
        }
        let grpc: UInt64?
        switch abort.source {
        case .grpc(let status): grpc = UInt64(status)
        case .http: grpc = nil
        case .header: grpc = stream.request.headers.first("x-envoy-fault-abort-grpc-request").flatMap { UInt64($0) }
        }
        guard let grpc else { return nil }
        let key = downstreamCluster.map { "fault.http.\($0).abort.grpc_status" } ?? config.runtimeKeys.abortGRPCStatus
        return (200, worker.runtimeInteger(key, default: grpc))
    }

    private func setUpResponseRateLimit(_ stream: ActiveStream) {
        guard let limit = config.responseRateLimit else { return }
        // Envoy has no downstream cluster key for this one.
        guard drawn(stream, limit.percentage,
                    percentageHeader: limit.source == .header ? "x-envoy-fault-throughput-response-percentage" : nil,
                    key: config.runtimeKeys.responseRateLimitPercent, clusterKey: nil) else { return }
        let kibPerSecond: UInt64?
        switch limit.source {
        case .fixed(let kbps): kibPerSecond = kbps
        case .header: kibPerSecond = stream.request.headers.first("x-envoy-fault-throughput-response").flatMap { UInt64($0) }
        }
        guard let kibPerSecond, kibPerSecond > 0, activate(stream) else { return }
        stream.shard.inc(shared.responseRLInjected)
        pacer = FaultResponsePacer(kibPerSecond: kibPerSecond, now: stream.worker.loop.now,
                                   bufferLimit: Int(stream.listener.config.perConnectionBufferLimitBytes))
    }

    // MARK: accounting

    /// Counts this stream as having an active fault, unless `max_active_faults` are active
    /// already (`faults_overflow`: the request goes on without the fault).
    private func activate(_ stream: ActiveStream) -> Bool {
        if active { return true }
        let unlimited = config.maxActiveFaults.map(UInt64.init) ?? .max
        let limit = stream.worker.runtimeInteger(config.runtimeKeys.maxActiveFaults, default: unlimited)
        if UInt64(max(0, shared.active.count.load(ordering: .relaxed))) >= limit {
            stream.shard.inc(shared.faultsOverflow)
            return false
        }
        shared.active.count.wrappingIncrement(ordering: .relaxed)
        stream.shard.add(shared.activeFaults, 1)
        active = true
        return true
    }

    private func deactivate(_ stream: ActiveStream) {
        guard active else { return }
        active = false
        shared.active.count.wrappingDecrement(ordering: .relaxed)
        stream.shard.add(shared.activeFaults, -1)
    }

    private func record(_ counter: CounterID, _ stat: String, _ stream: ActiveStream) {
        stream.shard.inc(counter)
        if let cluster = downstreamCluster, !cluster.isEmpty, !config.disableDownstreamClusterStats {
            stream.shard.inc(stream.worker.counter(shared.downstreamKey(cluster, stat)))
        }
    }
}
