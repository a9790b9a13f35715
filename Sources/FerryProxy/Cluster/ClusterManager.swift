import FerryConfig
import FerryTelemetry
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Owns the live endpoint set of every cluster and keeps DNS clusters resolved. Host sets are
/// immutable values; when one changes, the manager hands the new value to every worker loop
/// (`loop.execute`), so balancers and pools only ever run on their own loop.
public final class ClusterManager: Sendable {
    struct Entry {
        var definition: ClusterDefinition
        var hosts: HostSet
        var refresh: RepeatedTask?
        var lastError: String?
        /// The cluster's active health checker, when it has `health_checks`.
        var checker: HealthChecker?
        /// The cluster's outlier detector (`outlier_detection`), tied to this definition.
        var outlier: ClusterOutlierDetector?
    }

    let loop: EventLoop
    let resolver: DNSResolver
    let store: StatsStore
    let logger: Logger
    let entries = NIOLockedValueBox<[String: Entry]>([:])
    let resources = NIOLockedValueBox<[String: ClusterResources]>([:])

    /// The cluster's shared limits, created on first use and kept across reloads (so counts
    /// of what is in flight stay right); the definition's DEFAULT thresholds are applied.
    public func resources(for definition: ClusterDefinition) -> ClusterResources {
        let thresholds = definition.config.circuitBreakers.thresholds(for: .defaultPriority)
        return resources.withLockedValue { all in
            if let existing = all[definition.name] {
                existing.apply(thresholds)
                return existing
            }
            let made = ClusterResources(thresholds)
            all[definition.name] = made
            return made
        }
    }

    /// Sets the `circuit_breakers.*` gauges of `definitions` from the shared counts.
    func publishCircuitBreakerGauges(_ definitions: [ClusterDefinition]) {
        let all = resources.withLockedValue { $0 }
        for definition in definitions {
            guard let shared = all[definition.name] else { continue }
            for gauges in definition.stats.circuitBreakers {
                let thresholds = definition.config.circuitBreakers.thresholds(for: gauges.priority)
                gauges.publish(shared, thresholds: thresholds, to: store)
            }
        }
    }
    let subscribers = NIOLockedValueBox<[@Sendable (String, HostSet) -> Void]>([])

    public init(loop: EventLoop, resolver: DNSResolver, store: StatsStore, logger: Logger) {
        self.loop = loop
        self.resolver = resolver
        self.store = store
        self.logger = logger
    }

    /// Called with (cluster name, new hosts) whenever a cluster's endpoints change.
    public func subscribe(_ callback: @escaping @Sendable (String, HostSet) -> Void) {
        subscribers.withLockedValue { $0.append(callback) }
    }

    public func hosts(of cluster: String) -> HostSet? { entries.withLockedValue { $0[cluster]?.hosts } }

    public func lastError(of cluster: String) -> String? { entries.withLockedValue { $0[cluster]?.lastError } }

    /// Installs the clusters of a generation: unchanged clusters keep their hosts, new or changed
    /// ones are resolved (static clusters at once, DNS clusters before the returned future
    /// completes, bounded by `initialTimeout`), removed ones stop refreshing.
    public func apply(_ definitions: [ClusterDefinition], initialTimeout: TimeAmount = .seconds(5)) -> EventLoopFuture<Void> {
        var toResolve: [ClusterDefinition] = []
        var checking: [String] = []
        entries.withLockedValue { entries in
            let names = Set(definitions.map(\.name))
            for (name, entry) in entries where !names.contains(name) {
                entry.refresh?.cancel()
                entry.checker?.stop()
                entry.outlier?.stop()
                entries[name] = nil
            }
            for definition in definitions {
                if var existing = entries[definition.name], existing.definition.fingerprint == definition.fingerprint {
                    existing.definition = definition
                    entries[definition.name] = existing
                    continue
                }
                entries[definition.name]?.refresh?.cancel()
                entries[definition.name]?.checker?.stop()
                entries[definition.name]?.outlier?.stop()
                let checker = makeChecker(definition)
                if definition.config.type == .staticType {
                    entries[definition.name] = Entry(definition: definition, hosts: Self.staticHosts(definition.config), checker: checker)
                    checking.append(definition.name)
                } else {
                    entries[definition.name] = Entry(definition: definition, hosts: .empty, checker: checker)
                    toResolve.append(definition)
                }
                entries[definition.name]?.outlier = makeOutlierDetector(definition)
            }
        }
        for definition in definitions where definition.config.type == .staticType { publish(definition.name) }
        // Envoy warms a health-checked cluster: its first checks finish before it is used.
        let warming = checking.map { bounded(startChecking($0), by: initialTimeout) }
        let initial = toResolve.map { definition -> EventLoopFuture<Void> in
            let first = resolve(definition)
            let loop = self.loop
            let task = loop.scheduleRepeatedAsyncTask(initialDelay: TimeAmount(definition.config.dnsRefreshRate),
                                                      delay: TimeAmount(definition.config.dnsRefreshRate)) { [weak self] _ in
                guard let self else { return loop.makeSucceededVoidFuture() }
                return self.resolve(definition)
            }
            entries.withLockedValue { $0[definition.name]?.refresh = task }
            return bounded(first, by: initialTimeout)
        }
        return EventLoopFuture.andAllComplete(initial + warming, on: loop)
    }

    public func shutdown() {
        entries.withLockedValue { entries in
            for (_, entry) in entries {
                entry.refresh?.cancel()
                entry.checker?.stop()
                entry.outlier?.stop()
            }
        }
    }

    static func staticHosts(_ cluster: Cluster) -> HostSet {
        var hosts: [(UpstreamHost, UInt32?)] = []
        for group in cluster.loadAssignment.localities {
            for endpoint in group.endpoints {
                guard let address = try? NIOCore.SocketAddress(ipAddress: endpoint.address.address, port: endpoint.address.port)
                else { continue }
                let host = UpstreamHost(address: address, hostname: endpoint.hostname,
                                        weight: endpoint.weight, priority: Int(group.priority), locality: group.locality,
                                        health: initialFlags(endpoint, cluster),
                                        healthCheckPort: endpoint.healthCheckPort,
                                        activeHealthCheckDisabled: endpoint.disableActiveHealthCheck)
                hosts.append((host, group.weight))
            }
        }
        return HostSet(hosts: hosts, overprovisioningFactor: Int(cluster.loadAssignment.overprovisioningFactor),
                       localityWeighted: cluster.localityWeighted)
    }

    /// Resolves every endpoint name of a DNS cluster once and publishes the result if it changed.
    func resolve(_ definition: ClusterDefinition) -> EventLoopFuture<Void> {
        let cluster = definition.config
        let endpoints = cluster.loadAssignment.localities.flatMap { group in group.endpoints.map { (group, $0) } }
        let lookups = endpoints.map { (group, endpoint) in
            resolver.resolve(endpoint.address.address, port: endpoint.address.port, family: cluster.dnsLookupFamily, on: loop)
                .map { addresses -> [(UpstreamHost, UInt32?)] in
                    let chosen = cluster.type == .logicalDNS ? Array(addresses.prefix(1)) : addresses
                    return chosen.map { address in
                        (UpstreamHost(address: address, hostname: endpoint.hostname.isEmpty ? endpoint.address.address : endpoint.hostname,
                                      weight: endpoint.weight, priority: Int(group.priority), locality: group.locality,
                                      health: Self.initialFlags(endpoint, cluster),
                                      healthCheckPort: endpoint.healthCheckPort,
                                      activeHealthCheckDisabled: endpoint.disableActiveHealthCheck), group.weight)
                    }
                }
        }
        return EventLoopFuture.whenAllComplete(lookups, on: loop).flatMap { [self] results in
            var hosts: [(UpstreamHost, UInt32?)] = []
            var failures: [String] = []
            for result in results {
                switch result {
                case .success(let found): hosts.append(contentsOf: found)
                case .failure(let error): failures.append("\(error)")
                }
            }
            hosts = reusingKnownHosts(hosts, cluster: definition.name)
            let newSet = HostSet(hosts: hosts, overprovisioningFactor: Int(cluster.loadAssignment.overprovisioningFactor),
                                 localityWeighted: cluster.localityWeighted)
            let changed: Bool = entries.withLockedValue { entries in
                guard var entry = entries[definition.name], entry.definition.fingerprint == definition.fingerprint else { return false }
                entry.lastError = failures.isEmpty ? nil : failures.joined(separator: "; ")
                let old = entry.hosts.allHosts.map(\.addressString)
                let new = newSet.allHosts.map(\.addressString)
                // Keep the last good answer when every lookup failed (as Envoy does).
                guard old != new, !(new.isEmpty && !failures.isEmpty) else {
                    entries[definition.name] = entry
                    return false
                }
                entry.hosts = newSet
                entries[definition.name] = entry
                return true
            }
            if !failures.isEmpty {
                logger.warning("DNS resolution failed for cluster \(definition.name): \(failures.joined(separator: "; "))")
            }
            guard changed else { return loop.makeSucceededVoidFuture() }
            logger.info("cluster \(definition.name): endpoints now \(newSet.allHosts.map(\.addressString))")
            publish(definition.name)
            return startChecking(definition.name)
        }
    }

    func publish(_ name: String) {
        guard let (hosts, stats, outlier) = entries.withLockedValue({ e in e[name].map { ($0.hosts, $0.definition.stats, $0.outlier) } })
        else { return }
        outlier?.setHosts(hosts.allHosts)
        store.set(stats.membershipTotal, Int64(hosts.count))
        store.set(stats.membershipHealthy, Int64(hosts.allHosts.filter(\.health.isHealthy).count))
        for callback in subscribers.withLockedValue({ $0 }) { callback(name, hosts) }
    }

    /// The outlier detector of cluster `name`, if it has `outlier_detection`.
    public func outlierDetector(of name: String) -> ClusterOutlierDetector? { entries.withLockedValue { $0[name]?.outlier } }

    /// A detector for a new or changed cluster, its sweep running on the manager's loop.
    private func makeOutlierDetector(_ definition: ClusterDefinition) -> ClusterOutlierDetector? {
        guard let config = definition.config.outlierDetection else { return nil }
        let name = definition.name
        let detector = ClusterOutlierDetector(cluster: name, config: config, store: store) { [weak self] in
            self?.hostHealthChanged(cluster: name)
        }
        detector.start(on: loop)
        return detector
    }

    /// A host of cluster `name` changed health (health checker, outlier detector): the loops
    /// rebuild their balancers at their next pick, and `membership_healthy` follows.
    public func hostHealthChanged(cluster name: String) {
        resources.withLockedValue { $0[name] }?.noteHealthChanged()
        guard let (hosts, stats) = entries.withLockedValue({ e in e[name].map { ($0.hosts, $0.definition.stats) } }) else { return }
        store.set(stats.membershipHealthy, Int64(hosts.allHosts.filter(\.health.isHealthy).count))
    }
}
