import Atomics

/// A token bucket shared by every worker loop without a lock, as Envoy 1.40's atomic bucket:
/// it starts full, refills continuously at `tokensPerFill / fillInterval`, holds at most
/// `maxTokens`, and a take is one compare-and-swap. The state is the (virtual) time at which
/// the bucket was empty: tokens(now) = min(max, (now − emptyAt) / nanosPerToken).
final class AtomicTokenBucket: Sendable {
    let maxTokens: Double
    let nanosPerToken: Double
    private let emptyAt: ManagedAtomic<Int64>

    init(maxTokens: UInt32, tokensPerFill: UInt32, fillIntervalNanos: Int64, now: Int64) {
        self.maxTokens = Double(maxTokens)
        nanosPerToken = Double(fillIntervalNanos) / Double(max(tokensPerFill, 1))
        emptyAt = ManagedAtomic(now - Int64(Double(maxTokens) * nanosPerToken))
    }

    /// Takes one token if there is one.
    func take(now: Int64) -> Bool {
        var current = emptyAt.load(ordering: .relaxed)
        while true {
            let available = tokens(emptyAt: current, now: now)
            if available < 1 { return false }
            let next = now - Int64((available - 1) * nanosPerToken)
            let (exchanged, original) = emptyAt.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// What `x-ratelimit-remaining` and `x-ratelimit-reset` say now: whole tokens left, and
    /// seconds (rounded up) until the next whole token, 0 when one is there.
    func headerValues(now: Int64) -> (remaining: UInt32, resetSeconds: Int64) {
        let tokens = available(now: now)
        guard tokens < 1 else { return (UInt32(tokens), 0) }
        let nanos = Int64(((1 - tokens) * nanosPerToken).rounded(.up))
        return (0, (nanos + 999_999_999) / 1_000_000_000)
    }

    /// Tokens in the bucket now (fractional), without taking any.
    func available(now: Int64) -> Double { tokens(emptyAt: emptyAt.load(ordering: .relaxed), now: now) }

    @inline(__always)
    private func tokens(emptyAt: Int64, now: Int64) -> Double {
        min(maxTokens, Double(max(now - emptyAt, 0)) / nanosPerToken)
    }
}
