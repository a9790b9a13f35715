import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// Envoy's active health checker for one cluster: a `HealthCheckSession` per host, all on one
/// loop (the cluster manager's control loop, never a worker). Owned by the `ClusterManager`
/// entry of the cluster: created with the entry, told about every new host set, stopped when
/// the cluster is replaced, removed or the server shuts down.
///
/// Hosts start `/failed_active_hc` (as in Envoy); their first checks are spread evenly over
/// at most a second (plus `initial_jitter`), and `update` returns a future that completes when
/// every new host has its first result, which the manager waits for before the cluster is used.
public final class HealthChecker: Sendable {
    /// What the sessions share; immutable.
    struct Context {
        let cluster: String
        let loop: EventLoop
        let config: HealthCheck
        let machine: HealthCheckStateMachine.Configuration
        let mode: HealthCheckHandler.Mode
        let request: ByteBuffer
        let store: StatsStore
        let stats: HealthCheckStats
        let resources: ClusterResources
        /// The cluster's transport socket: checks of a TLS cluster use TLS too (as Envoy).
        let tls: CompiledUpstreamTLS?
        let healthChanged: @Sendable () -> Void
        /// A check of the host passed (outlier detection may un-eject it).
        let passed: @Sendable (UpstreamHost) -> Void
    }

    final class Sessions {
        var byHost: [ObjectIdentifier: HealthCheckSession] = [:]
        var stopped = false
    }

    let onPassed: @Sendable (UpstreamHost) -> Void
    public let cluster: String
    let loop: EventLoop
    let config: HealthCheck
    let ignoreNewHosts: Bool
    private let stats: HealthCheckStats
    private let store: StatsStore
    private let resources: ClusterResources
    private let tls: CompiledUpstreamTLS?
    private let onHealthChanged: @Sendable () -> Void
    private let sessions: NIOLoopBoundBox<Sessions>

    /// The largest window over which the first checks of a cluster's hosts are spread: hosts
    /// start unhealthy, so a longer spread would keep them out of rotation longer at startup.
    static let spreadWindow = Duration.seconds(1)

    init(cluster: String, checking: ActiveHealthChecking, loop: EventLoop, store: StatsStore, resources: ClusterResources,
         tls: CompiledUpstreamTLS? = nil, onPassed: @escaping @Sendable (UpstreamHost) -> Void = { _ in }, onHealthChanged: @escaping @Sendable () -> Void) {
        self.onPassed = onPassed
        self.cluster = cluster
        self.loop = loop
        config = checking.checks[0]
        ignoreNewHosts = checking.ignoreNewHostsUntilFirstHC
        stats = HealthCheckStats(cluster: cluster, store: store)
        self.store = store
        self.resources = resources
        self.tls = tls
        self.onHealthChanged = onHealthChanged
        sessions = NIOLoopBoundBox.makeBoxSendingValue(Sessions(), eventLoop: loop)
    }

    /// The flags a host of such a cluster is created with (Envoy's, before its first check).
    static func initialFlags(_ checking: ActiveHealthChecking) -> HostHealth.Flags {
        guard checking.isEnabled else { return [] }
        return checking.ignoreNewHostsUntilFirstHC ? [.failedActiveHealthCheck, .pendingActiveHealthCheck] : [.failedActiveHealthCheck]
    }

    /// Starts sessions for hosts not checked yet and stops those of hosts no longer in `hosts`.
    /// The future completes when every new host has its first result (or the checker stopped).
    public func update(_ hosts: HostSet) -> EventLoopFuture<Void> {
        let context = makeContext()
        return loop.flatSubmit { [sessions] in
            let state = sessions.value
            guard !state.stopped else { return context.loop.makeSucceededVoidFuture() }
            let current = hosts.allHosts.filter { !$0.activeHealthCheckDisabled }
            let keep = Set(current.map(ObjectIdentifier.init))
            for (id, session) in state.byHost where !keep.contains(id) {
                session.stop()
                state.byHost[id] = nil
            }
            let added = current.filter { state.byHost[ObjectIdentifier($0)] == nil }
            var firsts: [EventLoopFuture<Void>] = []
            for (index, host) in added.enumerated() {
                let session = HealthCheckSession(host: host, context: context, pending: host.health.flags.contains(.pendingActiveHealthCheck))
                let first = context.loop.makePromise(of: Void.self)
                session.onFirstResult = { first.succeed() }
                firsts.append(first.futureResult)
                state.byHost[ObjectIdentifier(host)] = session
                let window = min(context.config.interval, Self.spreadWindow)
                session.start(after: HealthCheckStateMachine.initialDelay(
                    index: index, count: added.count, window: window, initialJitter: context.config.initialJitter
                ) { UInt64.random(in: 0...UInt64.max) })
            }
            self.publishHealthy(state)
            return EventLoopFuture.andAllComplete(firsts, on: context.loop)
        }
    }

    /// `host` answered traffic with `x-envoy-immediate-health-check-fail`.
    func immediateFailure(of host: UpstreamHost) {
        loop.execute { [sessions] in sessions.value.byHost[ObjectIdentifier(host)]?.failImmediately() }
    }

    /// Cancels every timer and closes every check connection.
    public func stop() {
        loop.execute { [sessions] in
            let state = sessions.value
            state.stopped = true
            for session in state.byHost.values { session.stop() }
            state.byHost = [:]
        }
    }

    private func makeContext() -> Context {
        let mode: HealthCheckHandler.Mode
        var request = ByteBuffer()
        switch config.kind {
        case .http(let http):
            let compiled = HTTPHealthCheck.CompiledCheck(http)
            mode = .http(compiled)
            request = compiled.request(cluster: cluster)
        case .tcp(let tcp):
            mode = .tcp(tcp)
            request.writeBytes(tcp.send)
        case .grpc(let grpc):
            let headers = GRPCHealthMessage.headers(grpc, cluster: cluster, scheme: tls == nil ? "http" : "https")
            mode = .grpc(GRPCHealthCheckHandler.Settings(headers: headers))
            request = GRPCHealthMessage.request(service: grpc.serviceName)
        }
        let c = config
        let machine = HealthCheckStateMachine.Configuration(
            unhealthyThreshold: Int(c.unhealthyThreshold), healthyThreshold: Int(c.healthyThreshold), interval: c.interval,
            unhealthyInterval: c.unhealthyInterval, unhealthyEdgeInterval: c.unhealthyEdgeInterval,
            healthyEdgeInterval: c.healthyEdgeInterval, noTrafficInterval: c.noTrafficInterval,
            noTrafficHealthyInterval: c.noTrafficHealthyInterval)
        var withJitter = machine
        withJitter.intervalJitter = c.intervalJitter
        withJitter.intervalJitterPercent = Int(c.intervalJitterPercent)
        let sessions = self.sessions
        let store = self.store
        let stats = self.stats
        let changed = onHealthChanged
        let loop = self.loop
        return Context(cluster: cluster, loop: loop, config: c, machine: withJitter, mode: mode, request: request, store: store,
                       stats: stats, resources: resources, tls: tls, healthChanged: {
                           changed()
                           Self.publishHealthy(sessions.value, store: store, stats: stats)
                       }, passed: onPassed)
    }

    private func publishHealthy(_ state: Sessions) { Self.publishHealthy(state, store: store, stats: stats) }

    /// `health_check.healthy`: hosts that pass active health checking.
    static func publishHealthy(_ state: Sessions, store: StatsStore, stats: HealthCheckStats) {
        store.set(stats.healthy, Int64(state.byHost.values.filter(\.machine.isHealthy).count))
    }
}

/// Stat ids of `cluster.<name>.health_check.*` (Envoy's names; `degraded` stays 0: Ferry has
/// no degraded hosts yet, `passive_failure` and `verify_cluster` stay 0 until passive checks
/// and `service_name_matcher` exist).
struct HealthCheckStats: Sendable {
    let attempt, success, failure, networkFailure, passiveFailure, verifyCluster: CounterID
    let healthy, degraded: GaugeID

    init(cluster: String, store: StatsStore) {
        func c(_ s: String) -> CounterID { store.counter(.cluster(cluster, "health_check.\(s)")) }
        func g(_ s: String) -> GaugeID { store.gauge(.cluster(cluster, "health_check.\(s)")) }
        attempt = c("attempt")
        success = c("success")
        failure = c("failure")
        networkFailure = c("network_failure")
        passiveFailure = c("passive_failure")
        verifyCluster = c("verify_cluster")
        healthy = g("healthy")
        degraded = g("degraded")
    }
}
