/// One host's active health checking, as Envoy's `ActiveHealthCheckSession` decides it: whether
/// the host passes, how a check result moves it, and how long to wait for the next check.
///
/// Invariants (Envoy's): the first result of a host decides its health at once; afterwards a
/// healthy host turns unhealthy after `unhealthyThreshold` consecutive network failures or
/// timeouts (or retriable statuses), but at once on any other failure (a wrong status, a
/// payload mismatch); an unhealthy host turns healthy after `healthyThreshold` consecutive
/// successes. Pure: the caller passes the random numbers and whether the cluster has had traffic.
public struct HealthCheckStateMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var unhealthyThreshold: Int
        public var healthyThreshold: Int
        public var interval: Duration
        public var unhealthyInterval: Duration
        public var unhealthyEdgeInterval: Duration
        public var healthyEdgeInterval: Duration
        public var noTrafficInterval: Duration
        public var noTrafficHealthyInterval: Duration
        public var intervalJitter: Duration = .zero
        public var intervalJitterPercent: Int = 0

        /// Envoy's derived defaults: unhealthy and edge intervals follow `interval`, the
        /// no-traffic healthy interval follows the no-traffic interval.
        public init(unhealthyThreshold: Int, healthyThreshold: Int, interval: Duration, unhealthyInterval: Duration? = nil,
                    unhealthyEdgeInterval: Duration? = nil, healthyEdgeInterval: Duration? = nil,
                    noTrafficInterval: Duration = .seconds(60), noTrafficHealthyInterval: Duration? = nil) {
            self.unhealthyThreshold = unhealthyThreshold
            self.healthyThreshold = healthyThreshold
            self.interval = interval
            self.unhealthyInterval = unhealthyInterval ?? interval
            self.unhealthyEdgeInterval = unhealthyEdgeInterval ?? self.unhealthyInterval
            self.healthyEdgeInterval = healthyEdgeInterval ?? interval
            self.noTrafficInterval = noTrafficInterval
            self.noTrafficHealthyInterval = noTrafficHealthyInterval ?? noTrafficInterval
        }
    }

    public enum Outcome: Sendable, Equatable {
        case success
        /// Connect refused or reset, or the connection closed before an answer.
        case networkFailure
        /// No answer within `timeout`.
        case timeout
        /// An answer that fails the check: unhealthy at once.
        case activeFailure
        /// A status listed in `retriable_statuses`: counts towards `unhealthyThreshold`.
        case retriableFailure

        var countsTowardsThreshold: Bool { self != .activeFailure }
    }

    /// Envoy's `HealthTransition`.
    public enum Transition: Sendable, Equatable {
        case unchanged
        /// The result differs from the host's health, but the threshold is not reached yet.
        case changePending
        /// The host's health (or its pending flag) changed.
        case changed
    }

    public let configuration: Configuration
    public private(set) var isHealthy: Bool
    /// Not checked once yet, while `ignore_new_hosts_until_first_hc` keeps such hosts out.
    public private(set) var isPending: Bool
    private var consecutiveFailures = 0
    private var consecutiveSuccesses = 0
    private var firstCheck = true
    /// The transition of the last result (decides the next interval).
    public private(set) var lastTransition = Transition.unchanged

    /// A host checked by Envoy starts unhealthy (`/failed_active_hc`) until its first success.
    public init(configuration: Configuration, startsHealthy: Bool = false, pending: Bool = false) {
        self.configuration = configuration
        isHealthy = startsHealthy
        isPending = pending
    }

    /// Applies one check result; returns how the host's state moved.
    @discardableResult
    public mutating func record(_ outcome: Outcome) -> Transition {
        var transition = Transition.unchanged
        if outcome == .success {
            consecutiveFailures = 0
            if !isHealthy {
                consecutiveSuccesses += 1
                if firstCheck || consecutiveSuccesses >= configuration.healthyThreshold {
                    isHealthy = true
                    consecutiveSuccesses = 0
                    transition = .changed
                } else {
                    transition = .changePending
                }
            }
        } else {
            consecutiveSuccesses = 0
            if isHealthy {
                consecutiveFailures += 1
                if !outcome.countsTowardsThreshold || consecutiveFailures >= configuration.unhealthyThreshold {
                    isHealthy = false
                    consecutiveFailures = 0
                    transition = .changed
                } else {
                    transition = .changePending
                }
            }
        }
        if isPending {
            isPending = false
            transition = .changed
        }
        firstCheck = false
        lastTransition = transition
        return transition
    }

    /// The wait before the next check, after the last `record`. Without traffic on the cluster
    /// Envoy checks at the no-traffic intervals; otherwise an unhealthy host waits
    /// `unhealthy_interval` (`unhealthy_edge_interval` while a change is pending), a healthy one
    /// `interval` (`healthy_edge_interval` while pending). `random` draws the jitter.
    public func nextInterval(hadTraffic: Bool, random: () -> UInt64) -> Duration {
        let c = configuration
        let pending = lastTransition == .changePending
        let base: Duration
        if hadTraffic {
            if isHealthy {
                base = pending ? c.healthyEdgeInterval : c.interval
            } else {
                base = pending ? c.unhealthyEdgeInterval : c.unhealthyInterval
            }
        } else {
            base = isHealthy && !pending ? c.noTrafficHealthyInterval : c.noTrafficInterval
        }
        return Self.withJitter(base, jitter: c.intervalJitter, percent: c.intervalJitterPercent, random: random)
    }

    /// Envoy's `intervalWithJitter`, in whole milliseconds and never below 1 ms: `base` plus a
    /// random part of `percent`% of it, plus a random part of `jitter`.
    public static func withJitter(_ base: Duration, jitter: Duration, percent: Int = 0, random: () -> UInt64) -> Duration {
        var ms = UInt64(max(0, base.milliseconds))
        let percentPart = UInt64(max(0, percent)) * ms / 100
        if percentPart > 0 { ms += random() % percentPart }
        let jitterMs = UInt64(max(0, jitter.milliseconds))
        if jitterMs > 0 { ms += random() % jitterMs }
        return .milliseconds(Int64(max(1, ms)))
    }

    /// When host `index` of `count` first checks: evenly spread over `window` (so that many hosts
    /// do not connect at once), plus a random part of `initial_jitter`.
    public static func initialDelay(index: Int, count: Int, window: Duration, initialJitter: Duration,
                                    random: () -> UInt64) -> Duration {
        let spread = count > 1 ? window / count * index : .zero
        let jitterMs = UInt64(max(0, initialJitter.milliseconds))
        return spread + (jitterMs > 0 ? .milliseconds(Int64(random() % jitterMs)) : .zero)
    }
}
