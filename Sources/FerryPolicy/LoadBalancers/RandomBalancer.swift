/// `RANDOM`: each pick is an independent draw, uniform over the hosts when their weights are equal
/// and in proportion to the weights otherwise. No state between picks, so any number of workers can
/// share one instance.
///
/// Envoy's own `RANDOM` ignores endpoint weights (`random_lb.cc` picks `hosts[random % count]`);
/// honouring them is a deliberate Ferry choice. Callers that need Envoy's exact behaviour pass equal
/// weights.
///
/// Zero weights: Envoy rejects `load_balancing_weight: 0` at config load. Here a host with weight 0
/// is never picked, and when no host has a positive weight `pick` returns nil.
public struct RandomBalancer: Sendable {
    private enum Mode: Sendable {
        case empty
        case uniform(count: UInt64)
        case weighted(WeightedPick)
    }

    private let mode: Mode

    public init(weights: [UInt32]) {
        if weights.allSatisfy({ $0 == 0 }) {
            mode = .empty
        } else if weights.allSatisfy({ $0 == weights[0] }) {
            mode = .uniform(count: UInt64(weights.count))
        } else {
            mode = .weighted(WeightedPick(weights: weights.map(UInt64.init)))
        }
    }

    /// A host index, or nil when there is no host with a positive weight.
    public func pick(using random: inout FastRandom) -> Int? {
        switch mode {
        case .empty: nil
        case .uniform(let count): Int(random.next(below: count))
        case .weighted(let pick): pick.pick(using: &random)
        }
    }
}
