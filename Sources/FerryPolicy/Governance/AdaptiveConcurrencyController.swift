/// Envoy's adaptive concurrency gradient controller (`envoy.filters.http.adaptive_concurrency`,
/// `GradientControllerConfig`), as a pure state machine: its two timers become deadlines that
/// `tick(now:)` fires (and `tryAcquire`/`record` fire too when they are due), its random jitter
/// comes from a seeded `FastRandom`.
///
/// - Forwarding: a request may go while fewer than `concurrencyLimit` are outstanding.
/// - minRTT: measured in a window entered at start and then every `minRTTInterval` plus a random
///   jitter of `[0, ⌈interval_ms × jitter⌉)` ms. The window pins the limit to `minConcurrency`
///   (unless `minConcurrencyLimit` is set: then it measures live traffic and pins nothing), drops
///   earlier samples, and ends once `minRTTRequestCount` samples of requests sent inside it have
///   come back: minRTT is their `sampleAggregatePercentile`, and the limit from before returns.
/// - Every `concurrencyUpdateInterval` outside a minRTT window, with samples: sampleRTT is their
///   percentile, and
///   `gradient = clamp((minRTT + minRTT × buffer) / sampleRTT, 0.5, 2.0)`,
///   `limit = limit × gradient`, `new = ⌊limit + √limit⌋` (the headroom is √limit),
///   clamped to `[minConcurrencyLimit ?? minConcurrency, maxConcurrencyLimit]`.
///   This update timer gives up while a minRTT window runs, and restarts when it ends.
/// - Setting the limit to the floor for the 5th time in a row outside a minRTT window suggests a
///   stale minRTT: a new measurement starts at once.
///
/// Differences from Envoy, all in the measurement, none in the formulas: samples are kept in
/// nanoseconds rather than microseconds, the percentile is the exact nearest-rank one rather than
/// libcircllhist's approximation, and a window keeps at most `maxSamplesPerWindow` samples (a
/// uniform reservoir sample beyond that), so memory stays bounded under any load.
public struct AdaptiveConcurrencyController: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// `sample_aggregate_percentile`, percent (default 50).
        public var sampleAggregatePercentile: Double = 50
        /// `concurrency_limit_params.concurrency_update_interval` (required).
        public var concurrencyUpdateInterval: Duration
        /// `concurrency_limit_params.max_concurrency_limit` (default 1000).
        public var maxConcurrencyLimit = 1000
        /// `concurrency_limit_params.min_concurrency_limit`: the floor of the limit; when set,
        /// minRTT windows leave the limit alone. Unset: `minConcurrency` is the floor.
        public var minConcurrencyLimit: Int?
        /// `min_rtt_calc_params.interval` (default 60s).
        public var minRTTInterval: Duration = .seconds(60)
        /// `min_rtt_calc_params.request_count` (default 50).
        public var minRTTRequestCount = 50
        /// `min_rtt_calc_params.jitter`, percent of the interval (default 15).
        public var jitterPercent: Double = 15
        /// `min_rtt_calc_params.buffer`, percent of minRTT (default 25).
        public var bufferPercent: Double = 25
        /// `min_rtt_calc_params.min_concurrency` (default 3).
        public var minConcurrency = 3
        /// Samples kept per window (Ferry's bound).
        public var maxSamplesPerWindow = 4096

        public init(concurrencyUpdateInterval: Duration) {
            self.concurrencyUpdateInterval = concurrencyUpdateInterval
        }

        var floor: Int { minConcurrencyLimit ?? minConcurrency }
    }

    public let configuration: Configuration
    public private(set) var concurrencyLimit: Int
    /// Requests forwarded and not yet recorded or cancelled.
    public private(set) var outstanding = 0
    public private(set) var isMeasuringMinRTT = false
    /// Requests refused (`rq_blocked`).
    public private(set) var blockedCount = 0
    /// The last gradient and headroom computed (`gradient`, `burst_queue_size`).
    public private(set) var gradient: Double = 0
    public private(set) var burstHeadroom: Double = 0
    /// Grows whenever a timer fires or a minRTT window ends: the values a caller reports
    /// (limit, gradient, headroom, RTTs, measuring) change only then.
    public private(set) var revision = 0
    private var minRTTNanos: Int64 = 0
    private var sampleRTTNanos: Int64 = 0
    private var deferredLimit = 0
    private var consecutiveFloor = 0
    private var minRTTEpoch: Int64 = .min
    /// Timer deadlines; `Int64.max` when not armed.
    private var minRTTDue: Int64 = .max
    private var sampleResetDue: Int64 = .max
    private var nextDue: Int64 = .max
    private var samples: [Int64] = []
    private var seen = 0
    private var random: FastRandom

    public init(configuration: Configuration, now: Duration, random: FastRandom) {
        let c = configuration
        precondition(c.concurrencyUpdateInterval > .zero && c.minRTTInterval > .zero, "intervals must be positive")
        precondition(c.minConcurrency >= 1 && c.floor >= 1 && c.maxConcurrencyLimit >= c.floor, "bad limits")
        precondition(c.minRTTRequestCount >= 1 && c.maxSamplesPerWindow >= 1, "bad sample counts")
        precondition((0...100).contains(c.sampleAggregatePercentile) && c.jitterPercent >= 0 && c.bufferPercent >= 0)
        self.configuration = configuration
        self.random = random
        concurrencyLimit = c.minConcurrency
        samples.reserveCapacity(min(c.maxSamplesPerWindow, 1024))
        let t = now.wholeNanoseconds
        enterMinRTTWindow(t)
        sampleResetDue = t + c.concurrencyUpdateInterval.wholeNanoseconds
        rearm()
    }

    public var minRTT: Duration? { minRTTNanos > 0 ? .nanoseconds(minRTTNanos) : nil }
    public var sampleRTT: Duration? { sampleRTTNanos > 0 ? .nanoseconds(sampleRTTNanos) : nil }
    /// When the next minRTT window starts (nil while one runs).
    public var nextMinRTTWindow: Duration? { minRTTDue == .max ? nil : .nanoseconds(minRTTDue) }

    /// Forward (and count as outstanding) or block.
    public mutating func tryAcquire(now: Duration) -> Bool {
        let t = now.wholeNanoseconds
        if t >= nextDue { fire(t) }
        guard outstanding < concurrencyLimit else {
            blockedCount += 1
            return false
        }
        outstanding += 1
        return true
    }

    /// A forwarded request came back after `rtt` (it was sent at `now − rtt`).
    public mutating func record(rtt: Duration, now: Duration) {
        let t = now.wholeNanoseconds
        if t >= nextDue { fire(t) }
        if outstanding > 0 { outstanding -= 1 }
        let latency = rtt.wholeNanoseconds
        // Samples of requests sent before the current minRTT window do not represent it.
        guard t - latency >= minRTTEpoch else { return }
        addSample(latency)
        if isMeasuringMinRTT && seen >= configuration.minRTTRequestCount { finishMinRTTWindow(t) }
    }

    /// A forwarded request ended without a latency worth sampling (reset, local reply).
    public mutating func cancel() {
        if outstanding > 0 { outstanding -= 1 }
    }

    /// Fires the timers due at `now`.
    public mutating func tick(now: Duration) {
        fire(now.wholeNanoseconds)
    }

    private mutating func fire(_ t: Int64) {
        revision &+= 1
        while min(sampleResetDue, minRTTDue) <= t {
            if sampleResetDue <= minRTTDue {
                sampleResetDue = .max
                if !isMeasuringMinRTT {
                    updateFromSamples(t)
                    sampleResetDue = t + configuration.concurrencyUpdateInterval.wholeNanoseconds
                }
            } else {
                minRTTDue = .max
                enterMinRTTWindow(t)
            }
        }
        rearm()
    }

    private mutating func rearm() { nextDue = min(sampleResetDue, minRTTDue) }

    private mutating func enterMinRTTWindow(_ t: Int64) {
        guard !isMeasuringMinRTT else { return }
        isMeasuringMinRTT = true
        if configuration.minConcurrencyLimit == nil {
            deferredLimit = concurrencyLimit
            setLimit(configuration.minConcurrency, t)
        }
        clearSamples()
        minRTTEpoch = t
    }

    private mutating func finishMinRTTWindow(_ t: Int64) {
        revision &+= 1
        minRTTNanos = aggregate()
        if configuration.minConcurrencyLimit == nil { setLimit(deferredLimit, t) }
        isMeasuringMinRTT = false
        let intervalMs = configuration.minRTTInterval.milliseconds
        let jitterRangeMs = UInt64((Double(intervalMs) * configuration.jitterPercent / 100).rounded(.up))
        let jitterMs = jitterRangeMs > 0 ? Int64(random.next(below: jitterRangeMs)) : 0
        minRTTDue = t + (intervalMs + jitterMs) * 1_000_000
        sampleResetDue = t + configuration.concurrencyUpdateInterval.wholeNanoseconds
        rearm()
    }

    private mutating func updateFromSamples(_ t: Int64) {
        guard seen > 0 else { return }
        sampleRTTNanos = aggregate()
        let buffered = Double(minRTTNanos) + Double(minRTTNanos) * configuration.bufferPercent / 100
        let raw = sampleRTTNanos > 0 ? buffered / Double(sampleRTTNanos) : 2.0
        gradient = max(0.5, min(2.0, raw))
        let limit = Double(concurrencyLimit) * gradient
        burstHeadroom = limit.squareRoot()
        let computed = Int(limit + burstHeadroom)
        setLimit(max(configuration.floor, min(configuration.maxConcurrencyLimit, computed)), t)
    }

    private mutating func setLimit(_ new: Int, _ t: Int64) {
        let old = concurrencyLimit
        concurrencyLimit = new
        let floor = configuration.floor
        consecutiveFloor = !isMeasuringMinRTT && old == floor && new == floor ? consecutiveFloor + 1 : 0
        if consecutiveFloor >= 5 {
            minRTTDue = min(minRTTDue, t)
            rearm()
        }
    }

    private mutating func addSample(_ latency: Int64) {
        if samples.count < configuration.maxSamplesPerWindow {
            samples.append(latency)
        } else {
            let j = Int(random.next(below: UInt64(seen + 1)))
            if j < samples.count { samples[j] = latency }
        }
        seen += 1
    }

    /// The configured percentile of this window's samples (nearest rank), which are then dropped.
    private mutating func aggregate() -> Int64 {
        let rank = Int((configuration.sampleAggregatePercentile * Double(samples.count) / 100).rounded(.up))
        let value = selectKthSmallest(&samples, min(max(rank - 1, 0), samples.count - 1))
        clearSamples()
        return value
    }

    private mutating func clearSamples() {
        samples.removeAll(keepingCapacity: true)
        seen = 0
    }
}
