/// Envoy's outlier detection for one cluster as a pure state machine: results go in
/// (`record`), the interval sweep runs on `tick`, and the caller applies the ejections and
/// returns it reports to its hosts. Time is passed in, so tests drive it with a manual clock.
///
/// Hosts are named by caller-chosen ids (`setHosts`). Invariants, as Envoy's `DetectorImpl`:
/// a consecutive-error rule fires when its counter reaches the threshold exactly (the counter
/// is reset when the ejection is handled, and an already ejected host ignores it); an ejected
/// host is not considered by the success-rate rules; it returns at the first tick after
/// `min(base_ejection_time × backoff, max_ejection_time) + jitter`; `backoff` grows by one per
/// ejection and shrinks by one per interval the host stays in service.
public struct OutlierDetector: Sendable {
    public typealias Configuration = OutlierDetectionSettings

    /// What happened to one request on a host, in Envoy's terms (`Outlier::Result`).
    public enum Result: Sendable, Equatable {
        /// The upstream answered with this status (`putHttpResponseCode`).
        case status(Int)
        /// Connect failure or reset before a response (`LOCAL_ORIGIN_CONNECT_FAILED`, a 503 unsplit).
        case connectFailed
        /// The request timed out (`LOCAL_ORIGIN_TIMEOUT`); `status` is what the router answers (504).
        case timeout(status: Int)
        /// A connection was ready for the request (`LOCAL_ORIGIN_CONNECT_SUCCESS`; ignored unsplit).
        case connectSuccess
    }

    /// A change the caller applies to its hosts.
    public enum Action: Sendable, Equatable {
        case eject(host: Int, reason: OutlierEjectionType)
        case uneject(host: Int)
    }

    struct HostState {
        var consecutive5xx = 0
        var consecutiveGatewayFailure = 0
        var consecutiveLocalOriginFailure = 0
        /// This interval's results (the writer bucket) and the last interval's (what rules read).
        var current = Bucket(), local = Bucket()
        var previous = Bucket(), previousLocal = Bucket()
        var ejected = false
        var ejections = 0
        var backoff = 0
        var lastEjection: Duration?
        var lastUnejection: Duration?
        var jitter: Duration = .zero
        /// Success rates (percent) from the last tick with enough volume; nil otherwise (`/clusters` -1).
        var successRate: Double?
        var localSuccessRate: Double?
    }

    struct Bucket: Equatable {
        var total = 0
        var success = 0
    }

    public let configuration: Configuration
    private var hosts: [Int: HostState] = [:]
    /// Hosts in the order they were added: ticks visit them in a stable order.
    private var order: [Int] = []
    public private(set) var stats = OutlierStatsCounts()

    public init(configuration: Configuration) { self.configuration = configuration }

    /// The hosts the detector watches. New ids start clean; removed ones are forgotten (an
    /// ejected one no longer counts in `ejectionsActive`).
    public mutating func setHosts(_ ids: [Int]) {
        let keep = Set(ids)
        for id in order where !keep.contains(id) {
            if hosts[id]?.ejected == true { stats.ejectionsActive -= 1 }
            hosts[id] = nil
        }
        order = ids
        for id in ids where hosts[id] == nil { hosts[id] = HostState() }
    }

    public func isEjected(_ host: Int) -> Bool { hosts[host]?.ejected ?? false }
    public func ejectionCount(_ host: Int) -> Int { hosts[host]?.ejections ?? 0 }
    public func successRate(_ host: Int) -> Double? { hosts[host]?.successRate }
    public func localOriginSuccessRate(_ host: Int) -> Double? { hosts[host]?.localSuccessRate }
    /// True while a consecutive-error counter of `host` is above zero: only then can a success
    /// change anything but the success-rate volume (callers skip `record` for it otherwise).
    public func hasStreak(_ host: Int) -> Bool {
        guard let h = hosts[host] else { return false }
        return h.consecutive5xx + h.consecutiveGatewayFailure + h.consecutiveLocalOriginFailure > 0
    }

    /// Records one result; returns the ejection a consecutive-error rule caused, if any.
    /// `random` decides enforcement (`enforcing_*` percentages) and the ejection jitter.
    public mutating func record(_ result: Result, host: Int, now: Duration,
                                random: inout some RandomNumberGenerator) -> Action? {
        guard hosts[host] != nil else { return nil }
        if configuration.splitExternalLocalOriginErrors {
            switch result {
            case .status(let code): return putStatus(code, host: host, now: now, random: &random)
            case .connectSuccess:
                hosts[host]!.local.total += 1
                hosts[host]!.local.success += 1
                hosts[host]!.consecutiveLocalOriginFailure = 0
                return nil
            case .connectFailed, .timeout:
                hosts[host]!.local.total += 1
                hosts[host]!.consecutiveLocalOriginFailure += 1
                guard hosts[host]!.consecutiveLocalOriginFailure == configuration.consecutiveLocalOriginFailure else { return nil }
                return consecutiveError(.consecutiveLocalOriginFailure, host: host, now: now, random: &random)
            }
        }
        switch result {
        case .status(let code), .timeout(let code): return putStatus(code, host: host, now: now, random: &random)
        case .connectFailed: return putStatus(503, host: host, now: now, random: &random)
        case .connectSuccess: return nil
        }
    }

    /// Successes counted elsewhere (per loop, without a lock) and handed over before a tick.
    public mutating func addSuccesses(_ count: Int, localOrigin: Int = 0, host: Int) {
        guard hosts[host] != nil else { return }
        hosts[host]!.current.total += count
        hosts[host]!.current.success += count
        hosts[host]!.local.total += localOrigin
        hosts[host]!.local.success += localOrigin
    }

    private mutating func putStatus(_ code: Int, host: Int, now: Duration, random: inout some RandomNumberGenerator) -> Action? {
        hosts[host]!.current.total += 1
        guard (500...599).contains(code) else {
            hosts[host]!.current.success += 1
            hosts[host]!.consecutive5xx = 0
            hosts[host]!.consecutiveGatewayFailure = 0
            return nil
        }
        var action: Action?
        if (502...504).contains(code) {
            hosts[host]!.consecutiveGatewayFailure += 1
            if hosts[host]!.consecutiveGatewayFailure == configuration.consecutiveGatewayFailure {
                action = consecutiveError(.consecutiveGatewayFailure, host: host, now: now, random: &random)
            }
        } else {
            hosts[host]!.consecutiveGatewayFailure = 0
        }
        hosts[host]!.consecutive5xx += 1
        if hosts[host]!.consecutive5xx == configuration.consecutive5xx {
            action = consecutiveError(.consecutive5xx, host: host, now: now, random: &random) ?? action
        }
        return action
    }

    /// Envoy's `onConsecutiveErrorWorker`: ignored for an ejected host (its counter keeps
    /// running until it returns), else detected, maybe ejected, and the counter reset.
    private mutating func consecutiveError(_ type: OutlierEjectionType, host: Int, now: Duration,
                                           random: inout some RandomNumberGenerator) -> Action? {
        guard !hosts[host]!.ejected else { return nil }
        stats.detected[type, default: 0] += 1
        let ejected = eject(host, type, now: now, random: &random)
        switch type {
        case .consecutive5xx:
            stats.ejectionsConsecutive5xx += 1
            hosts[host]!.consecutive5xx = 0
        case .consecutiveGatewayFailure: hosts[host]!.consecutiveGatewayFailure = 0
        default: hosts[host]!.consecutiveLocalOriginFailure = 0
        }
        return ejected ? .eject(host: host, reason: type) : nil
    }

    /// Envoy's `ejectHost`: the `max_ejection_percent` cap, then the enforcement roll.
    private mutating func eject(_ host: Int, _ type: OutlierEjectionType, now: Duration,
                                random: inout some RandomNumberGenerator) -> Bool {
        let cap = min(configuration.maxEjectionPercent, 100)
        let percentAfter = 100.0 * Double(stats.ejectionsActive + 1) / Double(max(hosts.count, 1))
        var allowed = percentAfter <= Double(cap)
        if configuration.alwaysEjectOneHost && stats.ejectionsActive == 0 { allowed = true }
        guard allowed else {
            stats.ejectionsOverflow += 1
            return false
        }
        if type == .consecutive5xx || type == .successRate { stats.ejectionsTotal += 1 }
        guard Int(random.next() % 100) < configuration.enforcing(type) else { return false }
        stats.ejectionsActive += 1
        stats.ejectionsEnforcedTotal += 1
        stats.enforced[type, default: 0] += 1
        var state = hosts[host]!
        state.ejected = true
        state.ejections += 1
        state.lastEjection = now
        let jitterMs = configuration.maxEjectionTimeJitter.milliseconds
        state.jitter = .milliseconds(jitterMs == 0 ? 0 : Int64(random.next() % UInt64(jitterMs + 1)))
        if configuration.baseEjectionTime * state.backoff < configuration.maxEjectionTime + configuration.baseEjectionTime {
            state.backoff += 1
        }
        hosts[host] = state
        return true
    }

    /// An active health check of `host` passed: with `successful_active_health_check_uneject_host`
    /// (Envoy's default) an ejected host returns at once and its error streaks start over.
    public mutating func activeHealthCheckPassed(host id: Int, now: Duration) -> Action? {
        guard configuration.successfulActiveHealthCheckUnejectHost, var state = hosts[id], state.ejected else { return nil }
        state.ejected = false
        state.consecutive5xx = 0
        state.consecutiveGatewayFailure = 0
        state.consecutiveLocalOriginFailure = 0
        state.lastUnejection = now
        stats.ejectionsActive -= 1
        hosts[id] = state
        return .uneject(host: id)
    }

    /// The interval sweep (Envoy's `onIntervalTimer`): returns hosts whose ejection time is
    /// over, moves this interval's results into the bucket the success-rate rules read, runs
    /// them, and lets the backoff of hosts in service decay.
    public mutating func tick(now: Duration, random: inout some RandomNumberGenerator) -> [Action] {
        var actions: [Action] = []
        for id in order {
            var state = hosts[id]!
            if state.ejected, let at = state.lastEjection {
                let time = min(configuration.baseEjectionTime * state.backoff, configuration.maxEjectionTime) + state.jitter
                if now - at >= time {
                    state.ejected = false
                    state.consecutive5xx = 0
                    state.consecutiveGatewayFailure = 0
                    state.consecutiveLocalOriginFailure = 0
                    state.lastUnejection = now
                    stats.ejectionsActive -= 1
                    actions.append(.uneject(host: id))
                }
            }
            state.previous = state.current
            state.previousLocal = state.local
            state.current = Bucket()
            state.local = Bucket()
            state.successRate = nil
            state.localSuccessRate = nil
            hosts[id] = state
        }
        actions += successRateSweep(localOrigin: false, now: now, random: &random)
        actions += successRateSweep(localOrigin: true, now: now, random: &random)
        for id in order where !hosts[id]!.ejected {
            if let back = hosts[id]!.lastUnejection, now - back >= configuration.interval, hosts[id]!.backoff > 0 {
                hosts[id]!.backoff -= 1
            }
        }
        return actions
    }

    /// Success-rate and failure-percentage ejections over the last interval's volumes.
    private mutating func successRateSweep(localOrigin: Bool, now: Duration,
                                           random: inout some RandomNumberGenerator) -> [Action] {
        let c = configuration
        guard hosts.count >= c.successRateMinimumHosts || hosts.count >= c.failurePercentageMinimumHosts else { return [] }
        var forRate: [(Int, Double)] = []
        var forFailure: [(Int, Double)] = []
        for id in order where !hosts[id]!.ejected {
            let bucket = localOrigin ? hosts[id]!.previousLocal : hosts[id]!.previous
            guard bucket.total > 0 else { continue }
            let rate = Double(bucket.success) * 100 / Double(bucket.total)
            if bucket.total >= min(c.successRateRequestVolume, c.failurePercentageRequestVolume) {
                if localOrigin { hosts[id]!.localSuccessRate = rate } else { hosts[id]!.successRate = rate }
            }
            if bucket.total >= c.successRateRequestVolume { forRate.append((id, rate)) }
            if bucket.total >= c.failurePercentageRequestVolume { forFailure.append((id, rate)) }
        }
        var actions: [Action] = []
        if !forRate.isEmpty, forRate.count >= c.successRateMinimumHosts {
            let threshold = OutlierDetector.successRateThreshold(forRate.map(\.1), stdevFactor: Double(c.successRateStdevFactor) / 1000)
            let type: OutlierEjectionType = localOrigin ? .successRateLocalOrigin : .successRate
            for (id, rate) in forRate where rate < threshold.ejection {
                if type == .successRate { stats.ejectionsSuccessRate += 1 }
                stats.detected[type, default: 0] += 1
                if eject(id, type, now: now, random: &random) { actions.append(.eject(host: id, reason: type)) }
            }
        }
        if !forFailure.isEmpty, forFailure.count >= c.failurePercentageMinimumHosts {
            let type: OutlierEjectionType = localOrigin ? .failurePercentageLocalOrigin : .failurePercentage
            for (id, rate) in forFailure where 100 - rate >= Double(c.failurePercentageThreshold) {
                stats.detected[type, default: 0] += 1
                // A host ejected by the success-rate rule just now is not ejected twice.
                guard !hosts[id]!.ejected else { continue }
                if eject(id, type, now: now, random: &random) { actions.append(.eject(host: id, reason: type)) }
            }
        }
        return actions
    }

    /// Envoy's threshold: mean − factor × (population) standard deviation of the success rates.
    public static func successRateThreshold(_ rates: [Double], stdevFactor: Double) -> (mean: Double, ejection: Double) {
        let mean = rates.reduce(0, +) / Double(rates.count)
        let variance = rates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rates.count)
        return (mean, mean - stdevFactor * variance.squareRoot())
    }
}
