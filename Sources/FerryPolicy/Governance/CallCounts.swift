/// Calls and how they ended, counted together: one bucket of a circuit breaker's window, or the
/// window's sum. A call may be both a failure and slow (`slowFailures` counts those).
public struct CallCounts: Sendable, Equatable, AdditiveArithmetic {
    public var calls = 0
    public var failures = 0
    public var slowCalls = 0
    public var slowFailures = 0

    public init(calls: Int = 0, failures: Int = 0, slowCalls: Int = 0, slowFailures: Int = 0) {
        self.calls = calls
        self.failures = failures
        self.slowCalls = slowCalls
        self.slowFailures = slowFailures
    }

    /// One call.
    init(failed: Bool, slow: Bool) {
        calls = 1
        failures = failed ? 1 : 0
        slowCalls = slow ? 1 : 0
        slowFailures = failed && slow ? 1 : 0
    }

    /// Failures in percent of calls (0 without calls).
    public var failureRate: Double { calls == 0 ? 0 : Double(failures) * 100 / Double(calls) }
    /// Slow calls in percent of calls (0 without calls).
    public var slowCallRate: Double { calls == 0 ? 0 : Double(slowCalls) * 100 / Double(calls) }

    public static var zero: CallCounts { CallCounts() }

    public static func + (a: CallCounts, b: CallCounts) -> CallCounts {
        CallCounts(calls: a.calls + b.calls, failures: a.failures + b.failures, slowCalls: a.slowCalls + b.slowCalls,
                   slowFailures: a.slowFailures + b.slowFailures)
    }

    public static func - (a: CallCounts, b: CallCounts) -> CallCounts {
        CallCounts(calls: a.calls - b.calls, failures: a.failures - b.failures, slowCalls: a.slowCalls - b.slowCalls,
                   slowFailures: a.slowFailures - b.slowFailures)
    }
}
