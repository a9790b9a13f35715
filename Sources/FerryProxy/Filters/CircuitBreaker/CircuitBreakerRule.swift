import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// One compiled `CircuitBreaker` config (the listener's, or a route's): its breakers, one per
/// route or per cluster (`scope`), shared by every worker loop, and its stats
/// `<stat_prefix>.circuit_breaker.*`.
///
/// The breakers sit behind one lock: a request takes it twice, for a dictionary lookup and a
/// few additions at admission, and a few additions for the outcome (on the breaker admission
/// handed out: no second lookup). The lock is uncontended in practice (two loops meet
/// only when they touch the same rule in the same few hundred nanoseconds); a lock-free design
/// would need the window in atomics, which the resilience4j semantics do not fit.
final class CircuitBreakerRule: GovernanceState {
    typealias Machine = CircuitBreakerStateMachine

    let config: CircuitBreakerFilterConfig
    let machineConfiguration: Machine.Configuration
    let callsPermitted, callsRejected, successes, failures, slowCalls, opened, halfOpened, closed, shadowRejected: CounterID
    /// 0 closed, 1 open, 2 half-open: the worst state among the rule's breakers (open before
    /// half-open), set when a request sees a breaker change state.
    let stateGauge: GaugeID
    private let store: StatsStore
    private let breakers = NIOLockedValueBox<[String: Breaker]>([:])

    /// One key's breaker. A class, so that a call keeps the one it was admitted by: breakers are
    /// never removed (one per route or cluster), and only touched under the rule's lock.
    final class Breaker: @unchecked Sendable {
        fileprivate var machine: Machine
        fileprivate init(_ machine: Machine) { self.machine = machine }
    }
    /// `failure_status_codes` and the 5xx / gateway-error conditions, by status (0..<1000).
    private let failingStatus: [Bool]
    /// The response flags `failure_on` counts as failures.
    private let failingFlags: ResponseFlags

    var kind: String { "circuit_breaker" }
    static let counterNames = ["calls_permitted", "calls_rejected", "successes", "failures", "slow_calls", "opened", "half_opened",
                               "closed", "shadow_rejected"]
    var statNames: [(label: String, name: String)] {
        Self.counterNames.map { ($0, "\(config.statPrefix).circuit_breaker.\($0)") }
    }

    init(config: CircuitBreakerFilterConfig, store: StatsStore) {
        self.config = config
        self.store = store
        var m = Machine.Configuration()
        m.slidingWindow = config.windowType == .countBased ? .countBased(calls: config.windowSize) : .timeBased(seconds: config.windowSize)
        m.failureRateThreshold = config.failureRateThreshold
        m.failureCountThreshold = config.failureCountThreshold
        m.slowCallDurationThreshold = config.slowCallDurationThreshold
        m.slowCallRateThreshold = config.slowCallRateThreshold
        m.minimumNumberOfCalls = config.minimumNumberOfCalls
        m.waitDurationInOpenState = config.waitDurationInOpenState
        m.permittedCallsInHalfOpenState = config.permittedCallsInHalfOpenState
        m.maxWaitDurationInHalfOpenState = config.maxWaitDurationInHalfOpenState
        machineConfiguration = m
        var statuses = Array(repeating: false, count: 1000)
        var flags: ResponseFlags = []
        for code in config.failureStatusCodes where (0..<1000).contains(code) { statuses[code] = true }
        for failure in config.failureOn {
            switch failure {
            case .fiveXX: for code in 500..<1000 { statuses[code] = true }
            case .gatewayError: for code in 502...504 { statuses[code] = true }
            case .connectFailure: flags.insert(.upstreamConnectionFailure)
            case .reset: flags.insert(.upstreamConnectionTermination)
            case .timeout: flags.insert(.upstreamRequestTimeout)
            case .localOrigin:
                flags.formUnion([.upstreamConnectionFailure, .upstreamConnectionTermination, .upstreamRequestTimeout, .upstreamOverflow])
            }
        }
        failingStatus = statuses
        failingFlags = flags
        func c(_ name: String) -> CounterID { store.counter(.plain("\(config.statPrefix).circuit_breaker.\(name)")) }
        (callsPermitted, callsRejected, successes, failures) = (c("calls_permitted"), c("calls_rejected"), c("successes"), c("failures"))
        (slowCalls, opened, halfOpened, closed, shadowRejected) = (c("slow_calls"), c("opened"), c("half_opened"), c("closed"),
                                                                   c("shadow_rejected"))
        stateGauge = store.gauge(.plain("\(config.statPrefix).circuit_breaker.state"))
    }

    /// The breaker that guards `stream`, or nil when none does (no route, or a route that
    /// answers itself: direct responses and redirects).
    func key(for stream: ActiveStream) -> String? {
        guard let action = stream.route?.forwardAction else { return nil }
        guard config.scope == .cluster else { return stream.routeKey }
        switch action.target {
        case .cluster(let handle):
            return handle.name
        case .header(let name):
            // The router's own lookup; an unknown cluster gets the router's 503 unguarded.
            guard let cluster = stream.request.headers.first(name), stream.generation.clusterIndex[cluster] != nil else { return nil }
            return cluster
        case .weighted:
            // The cluster is picked by the router after the filters: the route's own breaker.
            return stream.routeKey.map { "weighted:\($0)" }
        }
    }

    /// State changes a call saw, for the stats.
    struct Changes {
        var opened = 0, halfOpened = 0, closed = 0
        var any: Bool { opened + halfOpened + closed > 0 }
    }

    /// Asks `key`'s breaker for leave to make a call; without it, how long until probes go through.
    /// The breaker comes back with the permission, for the call's outcome.
    func acquire(_ key: String, now: Duration)
        -> (permission: Machine.Permission?, breaker: Breaker, retryAfter: Duration, changes: Changes) {
        breakers.withLockedValue { breakers in
            let breaker: Breaker
            if let found = breakers[key] {
                breaker = found
            } else {
                breaker = Breaker(Machine(configuration: machineConfiguration, now: now))
                breakers[key] = breaker
            }
            var permission: Machine.Permission?
            var retryAfter = Duration.zero
            let changes = Self.changes(of: &breaker.machine) { machine in
                permission = machine.tryAcquire(now: now)
                if permission == nil { retryAfter = machine.retryAfter(now: now) }
            }
            if changes.any { updateGauge(breakers) }
            return (permission, breaker, retryAfter, changes)
        }
    }

    func record(_ breaker: Breaker, failed: Bool, duration: Duration, permission: Machine.Permission, now: Duration) -> Changes {
        breakers.withLockedValue { breakers in
            let changes = Self.changes(of: &breaker.machine) { machine in
                machine.record(failed ? .failure : .success, duration: duration, permission: permission, now: now)
            }
            if changes.any { updateGauge(breakers) }
            return changes
        }
    }

    /// Gives back a permission whose call did not reach an upstream.
    func release(_ breaker: Breaker, permission: Machine.Permission) {
        breakers.withLockedValue { _ in breaker.machine.release(permission) }
    }

    /// Runs `body` on a breaker and tells which state changes it made.
    @inline(__always)
    private static func changes(of machine: inout Machine, _ body: (inout Machine) -> Void) -> Changes {
        let before = machine.stats
        body(&machine)
        return changes(before, machine.stats)
    }

    /// Whether a call that ended with `status` (nil: no response) and `flags` failed.
    func isFailure(status: Int?, flags: ResponseFlags) -> Bool {
        if let status, status >= 0, status < failingStatus.count, failingStatus[status] { return true }
        return !flags.isDisjoint(with: failingFlags)
    }

    private static func changes(_ a: Machine.Stats, _ b: Machine.Stats) -> Changes {
        Changes(opened: b.openedCount - a.openedCount, halfOpened: b.halfOpenedCount - a.halfOpenedCount,
                closed: b.closedCount - a.closedCount)
    }

    private func updateGauge(_ breakers: [String: Breaker]) {
        let states = breakers.values.map(\.machine.state)
        store.set(stateGauge, states.contains(.open) ? 1 : states.contains(.halfOpen) ? 2 : 0)
    }

    static func name(_ state: Machine.State) -> String {
        switch state {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }

    func json(now: NIODeadline) -> String {
        let t = Duration.nanoseconds(Int64(now.uptimeNanoseconds))
        let entries = breakers.withLockedValue { $0.mapValues(\.machine) }.sorted { $0.key < $1.key }
        var worst = Machine.State.closed
        let items = entries.map { key, machine -> String in
            var machine = machine  // a copy: reading the state must not move the shared one
            let state = machine.state(now: t)
            if state == .open || (state == .halfOpen && worst == .closed) { worst = state }
            let c = machine.counts(now: t)
            let retryMs = machine.retryAfter(now: t).components.seconds * 1000 + machine.retryAfter(now: t).components.attoseconds / 1_000_000_000_000_000
            return "{\"key\":\(JSON.quote(key)),\"state\":\"\(Self.name(state))\",\"calls\":\(c.calls),\"failures\":\(c.failures),"
                + "\"slow_calls\":\(c.slowCalls),\"failure_rate\":\(c.failureRate),\"slow_call_rate\":\(c.slowCallRate),"
                + "\"retry_after_ms\":\(retryMs),\"probes_left\":\(machine.probesLeft)}"
        }
        return "{\"kind\":\"circuit_breaker\",\"stat_prefix\":\(JSON.quote(config.statPrefix)),\"scope\":\"\(config.scope.rawValue)\","
            + "\"state\":\"\(Self.name(worst))\",\"breakers\":[\(items.joined(separator: ","))]}"
    }
}
