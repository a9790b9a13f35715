/// Envoy's `LEAST_REQUEST`, in its two modes (`least_request_lb.cc`):
///
/// - **Equal weights**: `choiceCount` hosts are drawn at random, with replacement, and the one with
///   the fewest active requests wins; on a tie the earlier draw stays. With the default of two this
///   is "power of two choices" (P2C).
/// - **Different weights**: an EDF schedule whose entries go back, after each pick, with the
///   effective weight `weight / (active + 1)^activeRequestBias`, read at that moment. A busy host is
///   picked less and less often but never drained completely; a bias of 0 makes this plain weighted
///   round robin.
///
/// The caller owns the active request counts and passes them at pick time, so the balancer holds
/// no per-request state. One instance per worker per host set, rebuilt when the set changes.
///
/// Zero weights: Envoy rejects `load_balancing_weight: 0`; here such hosts are never picked and
/// `pick` returns nil when no host has a positive weight.
public struct LeastRequestBalancer: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Hosts drawn per pick in the equal-weights mode. Envoy's `choice_count`, default 2
        /// (Envoy's config requires at least 2; 1 here means a plain random pick).
        public var choiceCount: Int
        /// Exponent applied to `active + 1` in the weighted mode. Envoy's `active_request_bias`,
        /// default 1.0; 0 ignores active requests. Negative or NaN values fall back to 1.0, as in Envoy.
        public var activeRequestBias: Double

        public init(choiceCount: Int = 2, activeRequestBias: Double = 1.0) {
            precondition(choiceCount >= 1, "choiceCount must be at least 1")
            self.choiceCount = choiceCount
            self.activeRequestBias = activeRequestBias >= 0 ? activeRequestBias : 1.0
        }
    }

    private let weights: [UInt32]
    private let configuration: Configuration
    private var scheduler: EDFScheduler?

    /// `random` staggers the EDF start so workers with the same weights do not pick in lockstep.
    public init(weights: [UInt32], configuration: Configuration = Configuration(), random: inout FastRandom) {
        self.weights = weights
        self.configuration = configuration
        let uniform = weights.allSatisfy { $0 == weights.first }
        if uniform || weights.count < 2 {
            scheduler = nil
        } else {
            // Until the first pick of each host, its weight is the configured one (active = 0).
            let offset = Int(random.next(below: UInt64(weights.count)))
            scheduler = EDFScheduler(weights: weights.map(Double.init), offset: offset)
        }
    }

    /// A host index, or nil when no host has a positive weight. `activeRequests(i)` is host `i`'s
    /// current number of active requests.
    public mutating func pick(using random: inout FastRandom, activeRequests: (Int) -> Int) -> Int? {
        if scheduler != nil {
            let (weights, bias) = (weights, configuration.activeRequestBias)
            return scheduler!.pick {
                Self.effectiveWeight(Double(weights[$0]), active: activeRequests($0), bias: bias)
            }
        }
        guard let weight = weights.first, weight > 0 else { return nil }
        let count = UInt64(weights.count)
        var chosen = Int(random.next(below: count))
        var chosenActive = activeRequests(chosen)
        for _ in 1..<configuration.choiceCount {
            let sampled = Int(random.next(below: count))
            let sampledActive = activeRequests(sampled)
            if sampledActive < chosenActive {
                chosen = sampled
                chosenActive = sampledActive
            }
        }
        return chosen
    }

    /// `weight / (active + 1)^bias`, kept positive so a very busy host stays in the schedule.
    static func effectiveWeight(_ weight: Double, active: Int, bias: Double) -> Double {
        let load = Double(max(active, 0)) + 1
        let scaled =
            switch bias {
            case 0: weight
            case 1: weight / load
            default: weight / Elementary.pow(load, bias)
            }
        return max(scaled, .leastNormalMagnitude)
    }
}
