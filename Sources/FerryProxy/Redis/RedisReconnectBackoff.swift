import NIOCore

/// Delays between reconnect attempts: exponential from `base` up to `cap`, with "equal jitter"
/// (half the step fixed, half random), so a fleet of workers that lost Redis together does not
/// reconnect in lockstep, yet no attempt follows the previous one immediately.
struct RedisReconnectBackoff {
    let base: TimeAmount
    let cap: TimeAmount
    private(set) var failures = 0

    init(base: TimeAmount, cap: TimeAmount) {
        self.base = max(base, .milliseconds(1))
        self.cap = max(cap, self.base)
    }

    /// The delay before the next attempt; `random(n)` returns a value in `0...n`.
    mutating func next(random: (Int64) -> Int64 = { Int64.random(in: 0...$0) }) -> TimeAmount {
        let shift = min(failures, 30)
        failures += 1
        let (scaled, overflow) = base.nanoseconds.multipliedReportingOverflow(by: 1 << shift)
        let step = overflow ? cap.nanoseconds : min(scaled, cap.nanoseconds)
        return .nanoseconds(step / 2 + random(step - step / 2))
    }

    /// A connection became ready: the next loss starts from `base` again.
    mutating func reset() { failures = 0 }
}
