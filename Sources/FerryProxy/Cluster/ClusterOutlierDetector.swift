import Atomics
import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// One cluster's outlier detector, shared by every worker loop: the pure `OutlierDetector`
/// behind a lock, its interval timer on the cluster manager's loop, and the host flags and
/// `outlier_detection.*` stats it drives.
///
/// Cost on the request path: a success is one relaxed atomic add on the host's monitor (the
/// tick collects the sums), unless the host has a running error streak that the success must
/// break; an error takes the lock. Errors are rare, so the lock is uncontended in practice.
public final class ClusterOutlierDetector: Sendable {
    struct State {
        var detector: OutlierDetector
        var monitors: [ObjectIdentifier: OutlierHostMonitor] = [:]
        var nextID = 0
        var random = FastRandom()
        var published = OutlierStatsCounts()
        var stopped = false
    }

    public let cluster: String
    let settings: OutlierDetectionSettings
    private let state: NIOLockedValueBox<State>
    private let timer = NIOLockedValueBox<RepeatedTask?>(nil)
    private let stats: OutlierStatIDs
    private let store: StatsStore
    private let origin = NIODeadline.now()
    /// Tells the cluster manager that host health changed (balancers rebuild, gauges follow).
    private let onHealthChange: @Sendable () -> Void

    init(cluster: String, config: OutlierDetection, store: StatsStore, onHealthChange: @escaping @Sendable () -> Void) {
        self.cluster = cluster
        settings = Self.settings(config)
        state = NIOLockedValueBox(State(detector: OutlierDetector(configuration: settings)))
        stats = OutlierStatIDs(cluster: cluster, store: store)
        self.store = store
        self.onHealthChange = onHealthChange
        store.set(stats.ejectionsActive, 0)
    }

    static func settings(_ c: OutlierDetection) -> OutlierDetectionSettings {
        var s = OutlierDetectionSettings()
        s.consecutive5xx = Int(c.consecutive5xx)
        s.consecutiveGatewayFailure = Int(c.consecutiveGatewayFailure)
        s.consecutiveLocalOriginFailure = Int(c.consecutiveLocalOriginFailure)
        s.interval = c.interval
        s.baseEjectionTime = c.baseEjectionTime
        s.maxEjectionTime = c.resolvedMaxEjectionTime
        s.maxEjectionTimeJitter = c.maxEjectionTimeJitter
        s.maxEjectionPercent = Int(c.maxEjectionPercent)
        s.alwaysEjectOneHost = c.alwaysEjectOneHost
        s.enforcingConsecutive5xx = Int(c.enforcingConsecutive5xx)
        s.enforcingConsecutiveGatewayFailure = Int(c.enforcingConsecutiveGatewayFailure)
        s.enforcingConsecutiveLocalOriginFailure = Int(c.enforcingConsecutiveLocalOriginFailure)
        s.enforcingSuccessRate = Int(c.enforcingSuccessRate)
        s.enforcingLocalOriginSuccessRate = Int(c.enforcingLocalOriginSuccessRate)
        s.enforcingFailurePercentage = Int(c.enforcingFailurePercentage)
        s.enforcingFailurePercentageLocalOrigin = Int(c.enforcingFailurePercentageLocalOrigin)
        s.successRateMinimumHosts = Int(c.successRateMinimumHosts)
        s.successRateRequestVolume = Int(c.successRateRequestVolume)
        s.successRateStdevFactor = Int(c.successRateStdevFactor)
        s.failurePercentageThreshold = Int(c.failurePercentageThreshold)
        s.failurePercentageMinimumHosts = Int(c.failurePercentageMinimumHosts)
        s.failurePercentageRequestVolume = Int(c.failurePercentageRequestVolume)
        s.splitExternalLocalOriginErrors = c.splitExternalLocalOriginErrors
        s.successfulActiveHealthCheckUnejectHost = c.successfulActiveHealthCheckUnejectHost
        return s
    }

    private var now: Duration { .nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds - origin.uptimeNanoseconds)) }

    /// The hosts to watch (every host of the cluster's current host set).
    func setHosts(_ hosts: [UpstreamHost]) {
        let changed = state.withLockedValue { s -> Bool in
            guard !s.stopped else { return false }
            var next: [ObjectIdentifier: OutlierHostMonitor] = [:]
            for host in hosts {
                let key = ObjectIdentifier(host)
                if let existing = s.monitors[key] {
                    next[key] = existing
                } else {
                    next[key] = OutlierHostMonitor(id: s.nextID, host: host, detector: self)
                    s.nextID += 1
                }
            }
            s.monitors = next
            s.detector.setHosts(hosts.compactMap { next[ObjectIdentifier($0)]?.id })
            return publish(&s)
        }
        if changed { onHealthChange() }
    }

    /// The monitor a loop's connection pool reports to; nil for a host the detector does not know.
    func monitor(for host: UpstreamHost) -> OutlierHostMonitor? {
        state.withLockedValue { $0.monitors[ObjectIdentifier(host)] }
    }

    /// Starts the interval sweep on `loop` (the cluster manager's).
    func start(on loop: EventLoop) {
        let interval = TimeAmount.nanoseconds(Int64(settings.interval.components.seconds) * 1_000_000_000
                                              + settings.interval.components.attoseconds / 1_000_000_000)
        let task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.tick() }
        timer.withLockedValue { $0 = task }
    }

    /// Stops the sweep and forgets the hosts (on reload when the cluster changed or went, and
    /// on shutdown). Results still reported by old pools are ignored.
    func stop() {
        timer.withLockedValue { $0?.cancel(); $0 = nil }
        state.withLockedValue { s in
            s.stopped = true
            s.monitors = [:]
            s.detector.setHosts([])
        }
        store.set(stats.ejectionsActive, 0)
    }

    /// A result the fast path could not absorb (an error, or a success that ends a streak).
    func record(_ result: OutlierDetector.Result, from monitor: OutlierHostMonitor) {
        let changed = state.withLockedValue { s -> Bool in
            guard !s.stopped else { return false }
            let now = self.now
            let action = s.detector.record(result, host: monitor.id, now: now, random: &s.random)
            monitor.streak.store(s.detector.hasStreak(monitor.id), ordering: .relaxed)
            if let action { apply(action, &s) }
            return publish(&s) || action != nil
        }
        if changed { onHealthChange() }
    }

    /// An active health check of `host` passed (the health checker calls this).
    func activeHealthCheckPassed(_ host: UpstreamHost) {
        let changed = state.withLockedValue { s -> Bool in
            guard !s.stopped, let monitor = s.monitors[ObjectIdentifier(host)],
                  let action = s.detector.activeHealthCheckPassed(host: monitor.id, now: now) else { return false }
            apply(action, &s)
            monitor.streak.store(false, ordering: .relaxed)
            _ = publish(&s)
            return true
        }
        if changed { onHealthChange() }
    }

    /// The interval sweep: hands over the successes counted without the lock, then returns
    /// hosts whose time is over and runs the success-rate rules.
    func tick() {
        let changed = state.withLockedValue { s -> Bool in
            guard !s.stopped else { return false }
            for monitor in s.monitors.values {
                s.detector.addSuccesses(monitor.successes.exchange(0, ordering: .relaxed),
                                        localOrigin: monitor.localSuccesses.exchange(0, ordering: .relaxed), host: monitor.id)
            }
            let actions = s.detector.tick(now: now, random: &s.random)
            for action in actions { apply(action, &s) }
            for monitor in s.monitors.values { monitor.streak.store(s.detector.hasStreak(monitor.id), ordering: .relaxed) }
            return publish(&s) || !actions.isEmpty
        }
        if changed { onHealthChange() }
    }

    /// Success rates of the last interval for `/clusters` (nil: not enough volume).
    public func successRates(of host: UpstreamHost) -> (external: Double?, localOrigin: Double?) {
        state.withLockedValue { s in
            guard let m = s.monitors[ObjectIdentifier(host)] else { return (nil, nil) }
            return (s.detector.successRate(m.id), s.detector.localOriginSuccessRate(m.id))
        }
    }

    private func apply(_ action: OutlierDetector.Action, _ s: inout State) {
        switch action {
        case .eject(let id, _): s.monitors.values.first { $0.id == id }?.host.health.set(.failedOutlierCheck)
        case .uneject(let id): s.monitors.values.first { $0.id == id }?.host.health.clear(.failedOutlierCheck)
        }
    }

    /// Mirrors the detector's counts into the stats store; true when `ejections_active` moved.
    private func publish(_ s: inout State) -> Bool {
        let now = s.detector.stats
        let before = s.published
        guard now != before else { return false }
        func add(_ id: CounterID, _ new: Int, _ old: Int) { if new > old { store.add(id, UInt64(new - old)) } }
        add(stats.ejectionsEnforcedTotal, now.ejectionsEnforcedTotal, before.ejectionsEnforcedTotal)
        add(stats.ejectionsOverflow, now.ejectionsOverflow, before.ejectionsOverflow)
        add(stats.ejectionsTotal, now.ejectionsTotal, before.ejectionsTotal)
        add(stats.ejectionsConsecutive5xx, now.ejectionsConsecutive5xx, before.ejectionsConsecutive5xx)
        add(stats.ejectionsSuccessRate, now.ejectionsSuccessRate, before.ejectionsSuccessRate)
        for type in OutlierEjectionType.allCases {
            add(stats.detected[type]!, now.detected[type] ?? 0, before.detected[type] ?? 0)
            add(stats.enforced[type]!, now.enforced[type] ?? 0, before.enforced[type] ?? 0)
        }
        store.set(stats.ejectionsActive, Int64(now.ejectionsActive))
        s.published = now
        return now.ejectionsActive != before.ejectionsActive
    }
}

/// What one host's connection pools report to the detector. Successes are summed here
/// without a lock; anything else goes to the detector.
final class OutlierHostMonitor: Sendable {
    let id: Int
    let host: UpstreamHost
    /// Strong: a pool may outlive the detector's interest in the host (then results are ignored).
    let detector: ClusterOutlierDetector
    let successes = ManagedAtomic<Int>(0)
    let localSuccesses = ManagedAtomic<Int>(0)
    /// The host has a consecutive-error count above zero: a success must go through the lock to reset it.
    let streak = ManagedAtomic<Bool>(false)
    private let split: Bool

    init(id: Int, host: UpstreamHost, detector: ClusterOutlierDetector) {
        self.id = id
        self.host = host
        self.detector = detector
        split = detector.settings.splitExternalLocalOriginErrors
    }

    @inline(__always)
    func record(_ result: OutlierDetector.Result) {
        switch result {
        case .status(let code) where code < 500:
            if streak.load(ordering: .relaxed) { return detector.record(result, from: self) }
            successes.wrappingIncrement(ordering: .relaxed)
        case .connectSuccess:
            guard split else { return }
            if streak.load(ordering: .relaxed) { return detector.record(result, from: self) }
            localSuccesses.wrappingIncrement(ordering: .relaxed)
        default:
            detector.record(result, from: self)
        }
    }
}

/// Stat ids of `cluster.<name>.outlier_detection.*` (Envoy's names, including its deprecated counters).
struct OutlierStatIDs: Sendable {
    let ejectionsActive: GaugeID
    let ejectionsEnforcedTotal, ejectionsOverflow, ejectionsTotal, ejectionsConsecutive5xx, ejectionsSuccessRate: CounterID
    let detected: [OutlierEjectionType: CounterID]
    let enforced: [OutlierEjectionType: CounterID]

    init(cluster: String, store: StatsStore) {
        func c(_ s: String) -> CounterID { store.counter(.cluster(cluster, "outlier_detection." + s)) }
        ejectionsActive = store.gauge(.cluster(cluster, "outlier_detection.ejections_active"))
        ejectionsEnforcedTotal = c("ejections_enforced_total")
        ejectionsOverflow = c("ejections_overflow")
        ejectionsTotal = c("ejections_total")
        ejectionsConsecutive5xx = c("ejections_consecutive_5xx")
        ejectionsSuccessRate = c("ejections_success_rate")
        var detected: [OutlierEjectionType: CounterID] = [:]
        var enforced: [OutlierEjectionType: CounterID] = [:]
        for type in OutlierEjectionType.allCases {
            detected[type] = c("ejections_detected_" + type.rawValue)
            enforced[type] = c("ejections_enforced_" + type.rawValue)
        }
        self.detected = detected
        self.enforced = enforced
    }
}
