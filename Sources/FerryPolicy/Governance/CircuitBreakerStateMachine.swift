/// A circuit breaker with resilience4j's semantics, as a pure state machine: the caller asks for a
/// permission before a call (`tryAcquire`), reports how the call went (`record`), and passes the
/// time. (Envoy's own "circuit breakers" are concurrency caps: see `ConcurrencyLimiter`.)
///
/// - `closed`: every call is permitted and recorded in a sliding window, either the last N calls
///   (`countBased`) or the last N seconds in one-second buckets (`timeBased`; the current second
///   counts whole, so the window spans N−1 to N seconds). After each record, once the window holds
///   `minimumNumberOfCalls` (for a count window at most its size), the breaker opens if the failure
///   rate reaches `failureRateThreshold` or the slow-call rate reaches `slowCallRateThreshold`
///   (both in percent, `>=`). A call is slow when it took longer than `slowCallDurationThreshold`.
///   With `failureCountThreshold`, it also opens once the window holds that many failures, however
///   few calls there were.
/// - `open`: nothing is permitted until `waitDurationInOpenState` has passed; the first
///   `tryAcquire` (or `state(now:)`) after that moves to `halfOpen`.
/// - `halfOpen`: `permittedCallsInHalfOpenState` probes in total are permitted (`release` gives one
///   back for a call that was not made or should not count). When all of them have been recorded,
///   the probes decide: failure or slow-call rate at or above its threshold → `open` again (the
///   wait starts over); otherwise `closed`, with an empty window. With
///   `maxWaitDurationInHalfOpenState` above zero, a half-open breaker whose probes have not all
///   come back by then opens again.
///
/// Each permission carries the breaker's epoch (one per state entered); outcomes of calls
/// permitted in an earlier epoch are ignored, so a slow call from before a trip cannot decide the
/// probes. Counts for a live view: `counts(now:)` and `stats`.
public struct CircuitBreakerStateMachine: Sendable {
    public enum State: Sendable, Equatable { case closed, open, halfOpen }
    public enum Outcome: Sendable, Equatable { case success, failure }

    public enum SlidingWindow: Sendable, Equatable {
        /// The last `calls` calls.
        case countBased(calls: Int)
        /// The calls of the last `seconds` seconds (one bucket per second of the caller's clock).
        case timeBased(seconds: Int)
    }

    /// resilience4j's settings, with its defaults.
    public struct Configuration: Sendable, Equatable {
        public var slidingWindow = SlidingWindow.countBased(calls: 100)
        public var failureRateThreshold: Double = 50
        /// Opens on this many failures in the window, regardless of `minimumNumberOfCalls`; nil: off.
        public var failureCountThreshold: Int?
        public var slowCallDurationThreshold: Duration = .seconds(60)
        public var slowCallRateThreshold: Double = 100
        public var minimumNumberOfCalls = 100
        public var waitDurationInOpenState: Duration = .seconds(60)
        public var permittedCallsInHalfOpenState = 10
        /// Zero: stay half-open until all probes are back.
        public var maxWaitDurationInHalfOpenState: Duration = .zero

        public init() {}
    }

    /// Leave to make one call. Pass it back to `record` or `release`.
    public struct Permission: Sendable, Equatable {
        let epoch: Int
        /// The state that granted it (`halfOpen`: the call is a probe).
        public let state: State
    }

    public struct Stats: Sendable, Equatable {
        /// Calls refused (open, or half-open with no probe left).
        public var notPermitted = 0
        public var openedCount = 0
        public var halfOpenedCount = 0
        public var closedCount = 0
        /// Outcomes ignored because their permission came from an earlier state.
        public var staleOutcomes = 0
    }

    public let configuration: Configuration
    public private(set) var state = State.closed
    public private(set) var stats = Stats()
    private var epoch = 0
    private var stateSince: Int64
    /// The closed state's window (kept, frozen, while open).
    private var window: BucketRing<CallCounts>
    /// Count-based windows: the number of calls recorded since the window started.
    private var recorded: Int64 = 0
    private var probes = CallCounts.zero
    private var probesGranted = 0
    private let slowThreshold: Int64
    private let openWait: Int64
    /// `maxWaitDurationInHalfOpenState`, or `Int64.max` for none.
    private let halfOpenLimit: Int64
    private let isTimeBased: Bool
    private let minimumCalls: Int

    public init(configuration: Configuration, now: Duration) {
        let c = configuration
        precondition(c.failureRateThreshold > 0 && c.failureRateThreshold <= 100, "failureRateThreshold in (0, 100]")
        precondition(c.slowCallRateThreshold > 0 && c.slowCallRateThreshold <= 100, "slowCallRateThreshold in (0, 100]")
        precondition(c.minimumNumberOfCalls >= 1 && c.permittedCallsInHalfOpenState >= 1,
                     "call counts must be positive")
        precondition((c.failureCountThreshold ?? 1) >= 1, "failureCountThreshold must be positive")
        self.configuration = configuration
        slowThreshold = c.slowCallDurationThreshold.wholeNanoseconds
        openWait = c.waitDurationInOpenState.wholeNanoseconds
        let halfOpenWait = c.maxWaitDurationInHalfOpenState.wholeNanoseconds
        halfOpenLimit = halfOpenWait > 0 ? halfOpenWait : .max
        let t = now.wholeNanoseconds
        stateSince = t
        switch configuration.slidingWindow {
        case .countBased(let calls):
            precondition(calls >= 1, "window size must be positive")
            window = BucketRing(count: calls, newest: 0)
            isTimeBased = false
            // resilience4j: a count window never asks for more calls than it can hold.
            minimumCalls = min(c.minimumNumberOfCalls, calls)
        case .timeBased(let seconds):
            precondition(seconds >= 1, "window size must be positive")
            window = BucketRing(count: seconds, newest: Self.second(t))
            isTimeBased = true
            minimumCalls = c.minimumNumberOfCalls
        }
    }

    /// Asks to make a call at `now`: a permission, or nil when the breaker refuses it.
    public mutating func tryAcquire(now: Duration) -> Permission? {
        advanceTime(now.wholeNanoseconds)
        switch state {
        case .closed:
            return Permission(epoch: epoch, state: .closed)
        case .halfOpen where probesGranted < configuration.permittedCallsInHalfOpenState:
            probesGranted += 1
            return Permission(epoch: epoch, state: .halfOpen)
        case .open, .halfOpen:
            stats.notPermitted += 1
            return nil
        }
    }

    /// Records how a permitted call ended; `duration` decides whether it was slow.
    public mutating func record(_ outcome: Outcome, duration: Duration, permission: Permission, now: Duration) {
        let t = now.wholeNanoseconds
        advanceTime(t)
        guard permission.epoch == epoch else {
            stats.staleOutcomes += 1
            return
        }
        let call = CallCounts(failed: outcome == .failure, slow: duration.wholeNanoseconds > slowThreshold)
        switch state {
        case .closed:
            if isTimeBased {
                window.advance(to: Self.second(t))
            } else {
                recorded += 1
                window.advance(to: recorded)
            }
            window.addToNewest(call)
            if tripsClosed(window.total) { transition(to: .open, t) }
        case .halfOpen:
            probes += call
            if probes.calls >= configuration.permittedCallsInHalfOpenState {
                transition(to: exceedsRates(probes) ? .open : .closed, t)
            }
        case .open:
            break
        }
    }

    /// Gives back a permission whose call was not made or should not count (a half-open probe
    /// can then be granted again).
    public mutating func release(_ permission: Permission) {
        if permission.epoch == epoch, state == .halfOpen, probesGranted > probes.calls { probesGranted -= 1 }
    }

    /// The state at `now`, after the transitions time alone causes.
    public mutating func state(now: Duration) -> State {
        advanceTime(now.wholeNanoseconds)
        return state
    }

    /// What the current state counts at `now`: the window while closed (without the seconds that
    /// have left a time window), the window as it was when the breaker opened while open, the
    /// probes recorded so far while half-open.
    public func counts(now: Duration) -> CallCounts {
        switch state {
        case .closed:
            guard isTimeBased else { return window.total }
            var copy = window
            copy.advance(to: Self.second(now.wholeNanoseconds))
            return copy.total
        case .open:
            return window.total
        case .halfOpen:
            return probes
        }
    }

    /// Probes still to be granted while half-open (0 otherwise).
    public var probesLeft: Int { state == .halfOpen ? configuration.permittedCallsInHalfOpenState - probesGranted : 0 }

    /// While open, the time until probes are let through (for `Retry-After`); zero otherwise.
    public func retryAfter(now: Duration) -> Duration {
        guard state == .open else { return .zero }
        let left = saturatingAdd(stateSince, openWait) - now.wholeNanoseconds
        return .nanoseconds(max(0, left))
    }

    private func tripsClosed(_ c: CallCounts) -> Bool {
        if let k = configuration.failureCountThreshold, c.failures >= k { return true }
        return c.calls >= minimumCalls && exceedsRates(c)
    }

    private func exceedsRates(_ c: CallCounts) -> Bool {
        c.failureRate >= configuration.failureRateThreshold || c.slowCallRate >= configuration.slowCallRateThreshold
    }

    private mutating func advanceTime(_ t: Int64) {
        switch state {
        case .open where t - stateSince >= openWait:
            transition(to: .halfOpen, t)
        case .halfOpen where t - stateSince >= halfOpenLimit:
            transition(to: .open, t)
        default:
            break
        }
    }

    private mutating func transition(to next: State, _ t: Int64) {
        state = next
        epoch += 1
        stateSince = t
        switch next {
        case .open:
            stats.openedCount += 1
        case .halfOpen:
            stats.halfOpenedCount += 1
            probes = .zero
            probesGranted = 0
        case .closed:
            stats.closedCount += 1
            recorded = 0
            window.clear(newest: isTimeBased ? Self.second(t) : 0)
        }
    }

    private static func second(_ t: Int64) -> Int64 { floorDivide(t, 1_000_000_000) }
}
