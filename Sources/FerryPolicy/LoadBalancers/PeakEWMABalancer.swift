/// Latency-aware power of two choices, as Linkerd balances (tower's `PeakEwma` load with `p2c`, from
/// Finagle): each pick draws two different hosts at random and takes the one with the lower cost,
/// `latency estimate × (pending + 1)`.
///
/// The estimate is a peak-sensitive EWMA of response latency: a sample above the estimate replaces
/// it at once (a slow host is avoided immediately); a sample below it is blended in with weight
/// `1 − e^(−elapsed/decayTime)`, elapsed being the time since the previous sample. Between samples
/// the estimate seen by picks decays towards zero, `estimate × e^(−elapsed/decayTime)`, so a host
/// that was slow is tried again after a while and its new samples can bring it back.
///
/// Picks do not change the estimates (tower decays them in place on every load read; the result is
/// the same because decays compose), so `pick` is non-mutating and the outcome does not depend on how
/// often the balancer is asked. Time comes in as `now`: any monotonic clock's reading since a fixed
/// origin (for example `NIODeadline.uptimeNanoseconds`), never read here.
///
/// Hosts without a sample cost `defaultLatency × (pending + 1)`, as in Linkerd (30 ms) and Envoy's
/// `peak_ewma` extension; the first sample replaces the default outright (tower instead treats the
/// default as an earlier sample). Pending counts belong to the caller and are passed at pick time.
/// Estimates are per host index: rebuilding for a new host set starts every host afresh.
public struct PeakEWMABalancer: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The EWMA time constant (Linkerd's `EWMA_DECAY`, 10 s).
        public var decayTime: Duration
        /// The estimate of a host that has no sample yet (Linkerd's `EWMA_DEFAULT_RTT`, 30 ms).
        public var defaultLatency: Duration

        public init(decayTime: Duration = .seconds(10), defaultLatency: Duration = .milliseconds(30)) {
            precondition(decayTime > .zero, "decayTime must be positive")
            self.decayTime = decayTime
            self.defaultLatency = defaultLatency
        }
    }

    struct Estimate: Sendable {
        /// Seconds; nil until the first sample.
        var latency: Double?
        var updatedAt: Duration = .zero
    }

    private var estimates: [Estimate]
    private let decaySeconds: Double
    private let defaultSeconds: Double

    public init(hostCount: Int, configuration: Configuration = Configuration()) {
        estimates = Array(repeating: Estimate(), count: hostCount)
        decaySeconds = configuration.decayTime.seconds
        defaultSeconds = configuration.defaultLatency.seconds
    }

    public var hostCount: Int { estimates.count }

    /// Feeds one response latency of `host`, observed at `now`.
    public mutating func record(host: Int, latency: Duration, now: Duration) {
        let sample = max(latency.seconds, 0)
        let previous = estimates[host]
        var next = sample
        if let estimate = previous.latency, sample <= estimate {
            let decay = Elementary.exp(-max((now - previous.updatedAt).seconds, 0) / decaySeconds)
            next = estimate * decay + sample * (1 - decay)
        }
        estimates[host] = Estimate(latency: next, updatedAt: max(now, previous.updatedAt))
    }

    /// The latency estimate of `host` as seen at `now`, in seconds.
    public func estimate(host: Int, now: Duration) -> Double {
        let entry = estimates[host]
        guard let latency = entry.latency else { return defaultSeconds }
        return latency * Elementary.exp(-max((now - entry.updatedAt).seconds, 0) / decaySeconds)
    }

    /// `estimate × (pending + 1)`: the expected wait for a request sent to `host` now.
    public func cost(host: Int, pending: Int, now: Duration) -> Double {
        estimate(host: host, now: now) * Double(max(pending, 0) + 1)
    }

    /// The cheaper of two different random hosts (the first drawn on a tie); the only host when there
    /// is one; nil when there is none. `pending(i)` is host `i`'s number of requests in flight.
    public func pick(using random: inout FastRandom, now: Duration, pending: (Int) -> Int) -> Int? {
        let count = UInt64(estimates.count)
        guard count > 1 else { return count == 1 ? 0 : nil }
        let first = Int(random.next(below: count))
        var second = Int(random.next(below: count - 1))
        if second >= first { second += 1 }
        let firstCost = cost(host: first, pending: pending(first), now: now)
        return firstCost <= cost(host: second, pending: pending(second), now: now) ? first : second
    }
}
