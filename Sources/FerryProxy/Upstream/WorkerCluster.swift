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
    /// Circuit breaker counts and limits shared with the other loops.
    let resources: ClusterResources
    /// The cluster's outlier detector, shared by all loops; each pool gets its host's monitor.
    let outlier: ClusterOutlierDetector?
    unowned(unsafe) let worker: Worker
    private var pools: [String: HTTP1ConnectionPool] = [:]
    /// HTTP/2 pools by host address (clusters that speak HTTP/2 to some requests).
    private var http2Pools: [String: HTTP2ConnectionPool] = [:]
    /// `upstream_rq_<code>` counter ids by status code (100-599), registered on first use.
    var codeCounters = [CounterID?](repeating: nil, count: 600)
    /// `retry.upstream_rq_<code>`, created on first use.
    var retryCodeCounters = [CounterID?](repeating: nil, count: 600)
    private var priorityLoad: PriorityLoad
    private var balancers: [PriorityBalancer] = []

    /// One priority level's balancing state: over all its hosts, or (locality-weighted
    /// balancing) a locality by EDF over locality weights, then a host of that locality.
    struct PriorityBalancer {
        /// The hosts `all` balances over: the healthy ones, or every host in panic mode.
        var hosts: [UpstreamHost]
        var all: HostBalancer
        var localityScheduler: EDFScheduler?
        /// Per locality: its hosts (indices into `hosts`) and their balancer.
        var localityHosts: [[Int]]
        var perLocality: [HostBalancer]
        /// Fewer healthy hosts than `healthy_panic_threshold`: balancing over all of them.
        var panic: Bool
    }

    /// The `ClusterResources.healthVersion` the balancers were built for.
    private var builtForHealth: UInt64 = 0

    /// The cluster's `lb_policy` over one list of hosts. Ring hash and Maglev balance over a
    /// whole priority level (they ignore locality weights, as in Envoy).
    enum HostBalancer {
        case roundRobin(RoundRobinBalancer)
        case random(RandomBalancer)
        case leastRequest(LeastRequestBalancer)
        case ringHash(RingHashBalancer)
        case maglev(MaglevBalancer)
        case peakEWMA(PeakEWMABalancer)
    }

    init(definition: ClusterDefinition, hosts: HostSet, resources: ClusterResources, outlier: ClusterOutlierDetector? = nil,
         worker: Worker) {
        self.definition = definition
        self.resources = resources
        self.outlier = outlier
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
        for (key, pool) in http2Pools where !keep.contains(key) {
            pool.drain()
            http2Pools[key] = nil
        }
        hosts = newHosts
        if let outlier {
            // A kept address is a new host object after a DNS refresh: report to its monitor.
            for host in newHosts.allHosts {
                pools[host.addressString]?.outlier = outlier.monitor(for: host)
                http2Pools[host.addressString]?.outlier = outlier.monitor(for: host)
            }
        }
        rebuild()
    }

    private var hashBased: Bool { definition.config.lbPolicy == .ringHash || definition.config.lbPolicy == .maglev }
    /// Whether picks use the route's hash_policy (Envoy ignores it for the other policies).
    var usesRequestHash: Bool { hashBased }

    /// Slow start (round robin and least request): hosts younger than the window get a share of
    /// their weight that grows with age; while any is that young the balancers are rebuilt every
    /// second so the shares follow.
    private var slowStart: SlowStart? {
        guard let s = definition.config.slowStart, [.roundRobin, .leastRequest].contains(definition.config.lbPolicy),
              definition.config.peakEWMA == nil else { return nil }
        return SlowStart(window: s.window, aggression: s.aggression, minWeightPercent: s.minWeightPercent)
    }
    private var slowStartRebuildAt: NIODeadline?

    private func weights(_ hosts: [UpstreamHost]) -> [UInt32] {
        guard let slowStart else { return hosts.map(\.weight) }
        let now = worker.now
        return hosts.map { host in
            let age = Duration.nanoseconds(Int64(now.uptimeNanoseconds) - Int64(host.createdAt.uptimeNanoseconds))
            let factor = slowStart.factor(age: age)
            if factor < 1 {
                let next = now + .seconds(1)
                slowStartRebuildAt = min(slowStartRebuildAt ?? next, next)
            }
            // Scaled by 100 so that the factor keeps two decimals in integer weights.
            return UInt32(min(Double(UInt32.max), max(1, (Double(host.weight) * 100 * factor).rounded())))
        }
    }

    private func makeBalancer(_ hosts: [UpstreamHost]) -> HostBalancer {
        let config = definition.config
        let weights = weights(hosts)
        if let ewma = config.peakEWMA {
            let settings = PeakEWMABalancer.Configuration(decayTime: ewma.decayTime, defaultLatency: ewma.defaultRTT)
            return .peakEWMA(PeakEWMABalancer(hostCount: hosts.count, configuration: settings))
        }
        switch config.lbPolicy {
        case .random:
            return .random(RandomBalancer(weights: weights))
        case .leastRequest:
            let settings = LeastRequestBalancer.Configuration(choiceCount: Int(config.leastRequest.choiceCount),
                                                               activeRequestBias: config.leastRequest.activeRequestBias)
            return .leastRequest(LeastRequestBalancer(weights: weights, configuration: settings, random: &worker.random))
        case .ringHash:
            return .ringHash(RingHashBalancer(addresses: hosts.map(\.addressString), weights: weights,
                                              minimumRingSize: Int(config.ringHash.minimumRingSize),
                                              maximumRingSize: Int(config.ringHash.maximumRingSize)))
        case .maglev:
            return .maglev(MaglevBalancer(addresses: hosts.map(\.addressString), weights: weights,
                                          tableSize: Int(config.maglev.tableSize)))
        default:
            return .roundRobin(RoundRobinBalancer(weights: weights, random: &worker.random))
        }
    }

    /// Builds the balancers over each priority's healthy hosts (all of them in panic mode), and
    /// the priority load from healthy counts, as Envoy does.
    private func rebuild() {
        builtForHealth = resources.healthVersion
        slowStartRebuildAt = nil
        let threshold = definition.config.healthyPanicThreshold
        var healthyCounts: [Int] = []
        balancers = hosts.priorities.map { priority in
            let healthy = priority.hosts.indices.filter { priority.hosts[$0].health.isHealthy }
            healthyCounts.append(healthy.count)
            let total = priority.hosts.count
            let panic = total > 0 && Double(healthy.count) * 100 < threshold * Double(total)
            let chosen = panic ? Array(priority.hosts.indices) : healthy
            let members = chosen.map { priority.hosts[$0] }
            var position = [Int: Int]()
            for (k, index) in chosen.enumerated() { position[index] = k }
            var scheduler: EDFScheduler?
            var localityHosts: [[Int]] = []
            var perLocality: [HostBalancer] = []
            if hosts.localityWeighted && !hashBased {
                localityHosts = priority.localities.map { group in group.hostIndices.compactMap { position[$0] } }
                // Localities without a weight or without a usable host get no traffic.
                let weights = zip(priority.localities, localityHosts).map { group, usable -> Double in
                    guard let w = group.weight, !usable.isEmpty else { return 0 }
                    return Double(w)
                }
                scheduler = EDFScheduler(weights: weights, offset: Int(worker.random.next(below: UInt64(max(weights.count, 1)))))
                perLocality = localityHosts.map { usable in makeBalancer(usable.map { members[$0] }) }
            }
            return PriorityBalancer(hosts: members, all: makeBalancer(members), localityScheduler: scheduler,
                                    localityHosts: localityHosts, perLocality: perLocality, panic: panic)
        }
        let counts = hosts.priorities.map(\.hosts.count)
        // Traffic goes to levels by their health; with no healthy host anywhere, Envoy's panic
        // spreads it by host counts instead.
        let anyHealthy = healthyCounts.contains { $0 > 0 }
        priorityLoad = PriorityLoad(healthy: anyHealthy || threshold == 0 ? healthyCounts : counts, total: counts,
                                    overprovisioningFactor: hosts.overprovisioningFactor)
    }

    /// The next host, or nil when the cluster has none. `hash` is the request's hash from the
    /// route's `hash_policy` (ring hash and Maglev use a random one without it, as Envoy).
    func pickHost(hash: UInt64? = nil) -> UpstreamHost? {
        if resources.healthVersion != builtForHealth { rebuild() } else if let at = slowStartRebuildAt, worker.now >= at { rebuild() }
        guard !balancers.isEmpty else { return nil }
        var p = 0
        if balancers.count > 1 {
            guard let chosen = priorityLoad.priority(for: Int(worker.random.next(below: 100))) else { return noneHealthy() }
            p = chosen
        }
        let members = balancers[p].hosts
        guard !members.isEmpty else { return noneHealthy() }
        if balancers[p].panic { worker.stats.inc(definition.stats.lbHealthyPanic) }
        if var scheduler = balancers[p].localityScheduler {
            defer { balancers[p].localityScheduler = scheduler }
            guard let l = scheduler.pick() else { return noneHealthy() }
            let usable = balancers[p].localityHosts[l]
            guard let i = pick(&balancers[p].perLocality[l], hash: hash, host: { members[usable[$0]] }) else { return nil }
            return members[usable[i]]
        }
        guard let i = pick(&balancers[p].all, hash: hash, host: { members[$0] }) else { return nil }
        return members[i]
    }

    private func noneHealthy() -> UpstreamHost? {
        if hosts.count > 0 { worker.stats.inc(definition.stats.upstreamCxNoneHealthy) }
        return nil
    }

    private func pick(_ balancer: inout HostBalancer, hash: UInt64?, host: (Int) -> UpstreamHost) -> Int? {
        // Consumed and put back, so that a mutating pick works on the only copy of the
        // balancer's tables (a copy left in place would make every pick copy them).
        switch consume balancer {
        case .roundRobin(var b):
            let picked = b.pick()
            balancer = .roundRobin(b)
            return picked
        case .random(let b):
            balancer = .random(b)
            return b.pick(using: &worker.random)
        case .leastRequest(var b):
            let picked = b.pick(using: &worker.random) { self.activeRequests(on: host($0)) }
            balancer = .leastRequest(b)
            return picked
        case .ringHash(let b):
            balancer = .ringHash(b)
            return b.pick(hash: hash ?? worker.random.next())
        case .maglev(let b):
            balancer = .maglev(b)
            return b.pick(hash: hash ?? worker.random.next())
        case .peakEWMA(let b):
            balancer = .peakEWMA(b)
            return b.pick(using: &worker.random, now: Self.uptime(worker.now)) { self.activeRequests(on: host($0)) }
        }
    }

    static func uptime(_ deadline: NIODeadline) -> Duration { .nanoseconds(Int64(deadline.uptimeNanoseconds)) }

    /// A response from `host` took `latency` (request sent to response head): the peak-EWMA
    /// balancer's input. Other policies ignore it.
    func recordLatency(_ latency: TimeAmount, host: UpstreamHost) {
        guard definition.config.peakEWMA != nil else { return }
        let now = Self.uptime(worker.now), sample = Duration.nanoseconds(latency.nanoseconds)
        for p in balancers.indices {
            guard let i = balancers[p].hosts.firstIndex(where: { $0 === host }) else { continue }
            record(&balancers[p].all, index: i, sample, now)
            for l in balancers[p].localityHosts.indices {
                if let k = balancers[p].localityHosts[l].firstIndex(of: i) { record(&balancers[p].perLocality[l], index: k, sample, now) }
            }
        }
    }

    private func record(_ balancer: inout HostBalancer, index: Int, _ latency: Duration, _ now: Duration) {
        guard case .peakEWMA(var b) = consume balancer else { preconditionFailure("recordLatency on a non-EWMA balancer") }
        b.record(host: index, latency: latency, now: now)
        balancer = .peakEWMA(b)
    }

    /// Requests this loop has on `host` (attached or waiting for a connection): LEAST_REQUEST's
    /// measure. Each loop balances on its own counts, as each Envoy worker does.
    func activeRequests(on host: UpstreamHost) -> Int {
        (pools[host.addressString]?.load ?? 0) + (http2Pools[host.addressString]?.load ?? 0)
    }

    /// The codec a request uses: the cluster's, with `use_downstream_protocol_config` the
    /// downstream connection's, and with `auto_config` the one `host`'s ALPN chose last (HTTP/1
    /// until a connection has told, or for an upgrade, which HTTP/2 cannot carry).
    func codec(downstream: DownstreamProtocol, host: UpstreamHost? = nil, upgrade: Bool = false) -> UpstreamCodec {
        switch definition.config.upstreamProtocol.selection {
        case .http1: .http1
        case .auto: upgrade ? .http1 : host.flatMap { learnedCodecs[$0.addressString] } ?? .http1
        case .http2: .http2
        case .downstream: downstream == .http2 ? .http2 : .http1
        }
    }

    /// `auto_config`: what each host's ALPN chose on its latest connection, by address.
    private var learnedCodecs: [String: UpstreamCodec] = [:]

    var usesALPN: Bool { definition.config.upstreamProtocol.selection == .auto }

    /// A new connection to `host` negotiated `codec`: later requests to it use that codec's pool.
    func learn(_ codec: UpstreamCodec, for host: UpstreamHost) {
        learnedCodecs[host.addressString] = codec
        worker.stats.inc(codec == .http2 ? definition.stats.upstreamCxHTTP2Total : definition.stats.upstreamCxHTTP1Total)
    }

    func pool(for host: UpstreamHost, codec: UpstreamCodec) -> any UpstreamPool {
        codec == .http2 ? http2Pool(for: host) : pool(for: host)
    }

    func http2Pool(for host: UpstreamHost) -> HTTP2ConnectionPool {
        if let pool = http2Pools[host.addressString] { return pool }
        if retired { return HTTP2ConnectionPool(host: host, cluster: self, draining: true) }
        let pool = HTTP2ConnectionPool(host: host, cluster: self)
        pool.outlier = outlier?.monitor(for: host)
        http2Pools[host.addressString] = pool
        return pool
    }

    func pool(for host: UpstreamHost) -> HTTP1ConnectionPool {
        if let pool = pools[host.addressString] { return pool }
        // A stream of an older generation can still reach a cluster that was replaced or
        // removed (a retry, or a request routed just before the switch): it gets a pool of its
        // own whose connection closes after its request, and nothing is kept here.
        if retired { return HTTP1ConnectionPool(host: host, cluster: self, draining: true) }
        let pool = HTTP1ConnectionPool(host: host, cluster: self)
        pool.outlier = outlier?.monitor(for: host)
        pools[host.addressString] = pool
        return pool
    }

    var allPools: [any UpstreamPool] { Array(pools.values) + Array(http2Pools.values) as [any UpstreamPool] }

    /// True once the cluster was replaced or removed by a reload, or the worker stopped.
    private(set) var retired = false

    /// Retires the cluster: idle connections close, busy ones close after their request, and
    /// no pool is kept any more.
    func drainPools() {
        retired = true
        for pool in pools.values { pool.drain() }
        for pool in http2Pools.values { pool.drain() }
        pools.removeAll()
        http2Pools.removeAll()
    }
}
