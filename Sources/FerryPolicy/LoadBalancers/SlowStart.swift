/// Envoy's slow start: an endpoint younger than the window gets a share of its weight that
/// grows with its age, `max(minWeightPercent, (max(age, 1 s) / window)^(1/aggression))`, so a
/// new endpoint warms up instead of taking its full share at once.
public struct SlowStart: Sendable, Equatable {
    public var window: Duration
    public var aggression: Double
    /// Lower bound of the factor, in percent (Envoy's default 10).
    public var minWeightPercent: Double

    public init(window: Duration, aggression: Double = 1.0, minWeightPercent: Double = 10) {
        self.window = window
        self.aggression = aggression
        self.minWeightPercent = minWeightPercent
    }

    /// The factor (0...1] for an endpoint `age` old; 1 once it is out of the window.
    public func factor(age: Duration) -> Double {
        guard window > .zero, (age < window) else { return 1 }
        let time = max(age, .seconds(1)).seconds / window.seconds
        let ramp = aggression == 1 ? time : Elementary.pow(time, 1 / aggression)
        return min(1, max(minWeightPercent / 100, ramp))
    }
}
