import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// One loop's view of a cluster: the balancer state for its current hosts and a connection
/// pool per host. Host selection follows Envoy: a priority level by priority load, then (with
/// locality-weighted balancing) a locality by EDF over locality weights, then round robin.
final class WorkerCluster {
    var definition: ClusterDefinition
    private(set) var hosts: HostSet
    /// Limits shared with the other loops (concurrent retries).
    let resources: ClusterResources
    unowned(unsafe) let worker: Worker
    private var pools: [String: HTTP1ConnectionPool] = [:]
    /// `upstream_rq_<code>` counter ids by status code (100-599), registered on first use.
    var codeCounters = [CounterID?](repeating: nil, count: 600)
    /// `retry.upstream_rq_<code>`, created on first use.
    var retryCodeCounters = [CounterID?](repeating: nil, count: 600)
    private var priorityLoad: PriorityLoad
    private var balancers: [PriorityBalancer] = []

    struct PriorityBalancer {
        var all: RoundRobinBalancer
        var localityScheduler: EDFScheduler?
        var perLocality: [RoundRobinBalancer]
    }

    init(definition: ClusterDefinition, hosts: HostSet, resources: ClusterResources, worker: Worker) {
        self.definition = definition
        self.resources = resources
        self.hosts = hosts
        self.worker = worker
        priorityLoad = PriorityLoad(healthy: [], total: [])
        rebuild()
    }

    func update(hosts newHosts: HostSet) {
        let keep = Set(newHosts.allHosts.map(\.addressString))
        for (key, pool) in pools where !keep.contains(key) {
            pool.drain()
            pools[key] = nil
        }
        hosts = newHosts
        rebuild()
    }

    private func rebuild() {
        let counts = hosts.priorities.map(\.hosts.count)
        priorityLoad = PriorityLoad(healthy: counts, total: counts, overprovisioningFactor: hosts.overprovisioningFactor)
        balancers = hosts.priorities.map { priority in
            let all = RoundRobinBalancer(weights: priority.hosts.map(\.weight), random: &worker.random)
            var scheduler: EDFScheduler?
            var perLocality: [RoundRobinBalancer] = []
            if hosts.localityWeighted {
                // Localities without a weight get no traffic; weights scale with their share of hosts.
                let weights = priority.localities.map { group -> Double in
                    guard let w = group.weight, !group.hostIndices.isEmpty else { return 0 }
                    return Double(w)
                }
                scheduler = EDFScheduler(weights: weights, offset: Int(worker.random.next(below: UInt64(max(weights.count, 1)))))
                perLocality = priority.localities.map { group in
                    RoundRobinBalancer(weights: group.hostIndices.map { priority.hosts[$0].weight }, random: &worker.random)
                }
            }
            return PriorityBalancer(all: all, localityScheduler: scheduler, perLocality: perLocality)
        }
    }

    /// The next host, or nil when the cluster has none.
    func pickHost() -> UpstreamHost? {
        guard !balancers.isEmpty else { return nil }
        var p = 0
        if balancers.count > 1 {
            guard let chosen = priorityLoad.priority(for: Int(worker.random.next(below: 100))) else { return nil }
            p = chosen
        }
        let priority = hosts.priorities[p]
        if var scheduler = balancers[p].localityScheduler {
            defer { balancers[p].localityScheduler = scheduler }
            guard let l = scheduler.pick() else { return nil }
            guard let i = balancers[p].perLocality[l].pick() else { return nil }
            return priority.hosts[priority.localities[l].hostIndices[i]]
        }
        guard let i = balancers[p].all.pick() else { return nil }
        return priority.hosts[i]
    }

    func pool(for host: UpstreamHost) -> HTTP1ConnectionPool {
        if let pool = pools[host.addressString] { return pool }
        // A stream of an older generation can still reach a cluster that was replaced or
        // removed (a retry, or a request routed just before the switch): it gets a pool of its
        // own whose connection closes after its request, and nothing is kept here.
        if retired { return HTTP1ConnectionPool(host: host, cluster: self, draining: true) }
        let pool = HTTP1ConnectionPool(host: host, cluster: self)
        pools[host.addressString] = pool
        return pool
    }

    var allPools: [HTTP1ConnectionPool] { Array(pools.values) }

    /// True once the cluster was replaced or removed by a reload, or the worker stopped.
    private(set) var retired = false

    /// Retires the cluster: idle connections close, busy ones close after their request, and
    /// no pool is kept any more.
    func drainPools() {
        retired = true
        for pool in pools.values { pool.drain() }
        pools.removeAll()
    }
}
