import NIOConcurrencyHelpers
import NIOCore

/// Live state of one governance rule (a limiter, a breaker, a bulkhead, …) for the admin API's
/// `/governance`. Implementations are shared by every worker loop and must be thread-safe.
public protocol GovernanceState: AnyObject, Sendable {
    /// What kind of rule: `rate_limit`, `local_ratelimit`, `circuit_breaker`, `bulkhead`, ….
    var kind: String { get }
    /// One JSON object with the rule's current state (no trailing newline).
    func json(now: NIODeadline) -> String
    /// The rule's counters by label (`rate_limited` → its full stat name); `/governance` adds
    /// their current totals, summed over the worker loops.
    var statNames: [(label: String, name: String)] { get }
}

/// Governance state by rule key (`<listener>/<filter name>/<scope>`), shared by the loops and
/// kept across reloads: a reload that leaves a rule's config unchanged keeps its state (an open
/// breaker stays open, a limiter keeps its budget); a changed config starts afresh.
public final class GovernanceRegistry: Sendable {
    private struct Entry {
        let fingerprint: String
        let state: any GovernanceState
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init() {}

    /// The state for `key`: the existing one when its `fingerprint` (the rule's config, as text)
    /// is unchanged, else a new one from `make`. Called while compiling a generation.
    func state<S: GovernanceState>(key: String, fingerprint: String, make: () -> S) -> S {
        entries.withLockedValue { entries in
            if let entry = entries[key], entry.fingerprint == fingerprint, let existing = entry.state as? S { return existing }
            let made = make()
            entries[key] = Entry(fingerprint: fingerprint, state: made)
            return made
        }
    }

    /// Drops rules the active generation no longer has.
    func retain(_ keys: Set<String>) {
        entries.withLockedValue { entries in entries = entries.filter { keys.contains($0.key) } }
    }

    /// Every rule's state, by key.
    public func snapshot() -> [(key: String, state: any GovernanceState)] {
        entries.withLockedValue { entries in entries.map { ($0.key, $0.value.state) } }.sorted { $0.key < $1.key }
    }
}
