import FerryConfig
import NIOCore

/// Active health checking in the cluster manager: which flags new hosts start with, one
/// `HealthChecker` per entry that has `health_checks`, and hosts kept across DNS answers so
/// that their health (and their checks) carry over.
extension ClusterManager {
    /// A host's flags at creation: `/failed_eds_health` from its `health_status`, and under
    /// active health checking `/failed_active_hc` (plus `/pending_active_hc` with
    /// `ignore_new_hosts_until_first_hc`) until its first check, as Envoy.
    static func initialFlags(_ endpoint: LbEndpoint, _ cluster: Cluster) -> HostHealth.Flags {
        let fromConfig: HostHealth.Flags = endpoint.healthStatus.excludes ? [.failedEDSHealth] : []
        // disable_active_health_check: never checked, so never held back waiting for a check.
        if endpoint.disableActiveHealthCheck { return fromConfig }
        return fromConfig.union(HealthChecker.initialFlags(cluster.activeHealthChecking))
    }

    func makeChecker(_ definition: ClusterDefinition) -> HealthChecker? {
        let shared = resources(for: definition)
        guard definition.config.activeHealthChecking.isEnabled else {
            shared.setImmediateHealthCheckFailHandler(nil)
            return nil
        }
        let name = definition.name
        shared.setImmediateHealthCheckFailHandler { [weak self] host in
            self?.entries.withLockedValue { $0[name]?.checker }?.immediateFailure(of: host)
        }
        return HealthChecker(cluster: name, checking: definition.config.activeHealthChecking, loop: loop, store: store,
                             resources: resources(for: definition), tls: definition.tls,
                             onPassed: { [weak self] host in self?.outlierDetector(of: name)?.activeHealthCheckPassed(host) }
        ) { [weak self] in self?.hostHealthChanged(cluster: name) }
    }

    /// Hands the entry's current hosts to its checker; completes when the new hosts have their
    /// first result (at once without a checker).
    func startChecking(_ name: String) -> EventLoopFuture<Void> {
        guard let (checker, hosts) = entries.withLockedValue({ e in e[name].flatMap { e in e.checker.map { ($0, e.hosts) } } })
        else { return loop.makeSucceededVoidFuture() }
        return checker.update(hosts)
    }

    /// `future`, or success after `timeout`, whichever comes first.
    func bounded(_ future: EventLoopFuture<Void>, by timeout: TimeAmount) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        loop.scheduleTask(in: timeout) { promise.succeed() }
        future.cascade(to: promise)
        return promise.futureResult
    }

    /// A DNS answer builds new host objects; one equal to a host the cluster has (address,
    /// priority, locality, weight, hostname) is replaced by that host, as Envoy keeps hosts
    /// across updates, so its health and checks continue.
    func reusingKnownHosts(_ hosts: [(UpstreamHost, UInt32?)], cluster name: String) -> [(UpstreamHost, UInt32?)] {
        guard let old = entries.withLockedValue({ $0[name]?.hosts.allHosts }), !old.isEmpty else { return hosts }
        let known = Dictionary(old.map { ($0.addressString, $0) }, uniquingKeysWith: { first, _ in first })
        return hosts.map { host, weight in
            guard let existing = known[host.addressString], existing.priority == host.priority, existing.locality == host.locality,
                  existing.weight == host.weight, existing.hostname == host.hostname else { return (host, weight) }
            return (existing, weight)
        }
    }
}
