import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// One compiled `AdaptiveConcurrency`: the gradient controller every worker loop shares (one
/// per filter config, as Envoy), its `rq_blocked` counter and its gauges
/// `http.<stat_prefix>.adaptive_concurrency.gradient_controller.*`.
///
/// The controller is a value type behind one lock; each request takes it twice (admission and
/// sample), each time for one short controller call. Its timers are deadlines: any call past a
/// deadline fires it, and so does reading the stats or `/governance`, so nothing is scheduled.
final class AdaptiveConcurrencyRule: GovernanceState {
    /// What the gauges show; set in the stats store only when it changes.
    struct GaugeValues: Equatable {
        var limit = 0, active = 0, gradient = 0, burst = 0, minRTTMs = 0, sampleRTTMs = 0

        init() {}

        init(_ c: AdaptiveConcurrencyController) {
            limit = c.concurrencyLimit
            active = c.isMeasuringMinRTT ? 1 : 0
            // Envoy reports the gradient scaled by 1000 (0.5 → 500).
            gradient = Int(c.gradient * 1000)
            burst = Int(c.burstHeadroom)
            minRTTMs = Int(c.minRTT.map { $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 } ?? 0)
            sampleRTTMs = Int(c.sampleRTT.map { $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 } ?? 0)
        }
    }

    private struct Shared {
        var controller: AdaptiveConcurrencyController
        var published: GaugeValues?
        /// The controller's revision when the gauges were last compared.
        var publishedRevision = -1
    }

    let config: AdaptiveConcurrencyConfig
    let statPrefix: String
    let rqBlocked: CounterID
    private let gauges: [GaugeID]
    private let store: StatsStore
    private let shared: NIOLockedValueBox<Shared>
    var kind: String { "adaptive_concurrency" }
    var statNames: [(label: String, name: String)] { [("rq_blocked", Self.stat(statPrefix, "rq_blocked"))] }

    static func stat(_ prefix: String, _ name: String) -> String {
        "http.\(prefix).adaptive_concurrency.gradient_controller.\(name)"
    }

    init(config: AdaptiveConcurrencyConfig, statPrefix: String, store: StatsStore, now: NIODeadline) {
        self.config = config
        self.statPrefix = statPrefix
        self.store = store
        func key(_ name: String) -> StatKey { .http(statPrefix, "adaptive_concurrency.gradient_controller.\(name)") }
        rqBlocked = store.counter(key("rq_blocked"))
        gauges = ["concurrency_limit", "min_rtt_calculation_active", "gradient", "burst_queue_size", "min_rtt_msecs",
                  "sample_rtt_msecs"].map { store.gauge(key($0)) }
        var c = AdaptiveConcurrencyController.Configuration(concurrencyUpdateInterval: config.concurrencyUpdateInterval)
        c.sampleAggregatePercentile = config.sampleAggregatePercentile
        c.maxConcurrencyLimit = config.maxConcurrencyLimit
        c.minConcurrencyLimit = config.minConcurrencyLimit
        c.minRTTInterval = config.minRTTInterval
        c.minRTTRequestCount = config.minRTTRequestCount
        c.jitterPercent = config.jitterPercent
        c.bufferPercent = config.bufferPercent
        c.minConcurrency = config.minConcurrency
        let controller = AdaptiveConcurrencyController(configuration: c, now: Self.duration(now), random: FastRandom())
        shared = NIOLockedValueBox(Shared(controller: controller))
        shared.withLockedValue { publish(&$0) }
    }

    static func duration(_ t: NIODeadline) -> Duration { .nanoseconds(Int64(t.uptimeNanoseconds)) }

    /// Admits a request (counting it as outstanding) or refuses it.
    func tryAcquire(now: NIODeadline) -> Bool {
        shared.withLockedValue { s in
            let admitted = s.controller.tryAcquire(now: Self.duration(now))
            publish(&s)
            return admitted
        }
    }

    /// An admitted request's response ended `rtt` after its admission.
    func record(rtt: TimeAmount, now: NIODeadline) {
        shared.withLockedValue { s in
            s.controller.record(rtt: .nanoseconds(rtt.nanoseconds), now: Self.duration(now))
            publish(&s)
        }
    }

    /// An admitted request ended without a response (reset): no sample.
    func cancel() {
        shared.withLockedValue { $0.controller.cancel() }
    }

    /// Fires the controller's due timers (and refreshes the gauges).
    func tick(now: NIODeadline) {
        shared.withLockedValue { s in
            s.controller.tick(now: Self.duration(now))
            publish(&s)
        }
    }

    /// Sets the gauges that changed. Under the lock, so two loops cannot publish out of order;
    /// values change only when a timer fires, a few times a second at most.
    private func publish(_ s: inout Shared) {
        guard s.controller.revision != s.publishedRevision else { return }
        s.publishedRevision = s.controller.revision
        let values = GaugeValues(s.controller)
        guard values != s.published else { return }
        let old = s.published
        s.published = values
        let pairs = [(values.limit, old?.limit), (values.active, old?.active), (values.gradient, old?.gradient),
                     (values.burst, old?.burst), (values.minRTTMs, old?.minRTTMs), (values.sampleRTTMs, old?.sampleRTTMs)]
        for (gauge, (new, previous)) in zip(gauges, pairs) where new != previous { store.set(gauge, Int64(new)) }
    }

    func json(now: NIODeadline) -> String {
        let c = shared.withLockedValue { s in
            s.controller.tick(now: Self.duration(now))
            publish(&s)
            return s.controller
        }
        func ms(_ d: Duration?) -> String {
            guard let d else { return "null" }
            return "\(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)"
        }
        let fields = ["\"kind\":\"adaptive_concurrency\"", "\"stat_prefix\":\(JSON.quote(statPrefix))",
                      "\"limit\":\(c.concurrencyLimit)", "\"outstanding\":\(c.outstanding)",
                      "\"min_rtt_ms\":\(ms(c.minRTT))", "\"sample_rtt_ms\":\(ms(c.sampleRTT))",
                      "\"gradient\":\(c.gradient)", "\"measuring_min_rtt\":\(c.isMeasuringMinRTT)"]
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// The rule's identity for keeping its controller across reloads.
    static func fingerprint(_ config: AdaptiveConcurrencyConfig, statPrefix: String) -> String { "\(statPrefix) \(config)" }
}
