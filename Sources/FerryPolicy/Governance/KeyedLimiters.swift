/// One limiter per key (client address, API key, route…), for at most `maxKeys` keys at a time.
///
/// - A key seen for the first time gets a fresh limiter built from `configuration`.
/// - A key unused for `idleTimeout` counts as new again: its limiter starts afresh (pick a timeout
///   at least as long as the limiter takes to forget, e.g. the time a token bucket needs to
///   refill). Idle keys are also dropped, a few per new key and all on `expireIdle(now:)`.
/// - When `maxKeys` keys are tracked, a new key takes the place of the least recently used one
///   (counted in `evictions`). The evicted key starts afresh when it comes back, so `maxKeys`
///   should exceed the number of keys active within `idleTimeout`, or busy keys escape their limit.
///
/// Recency is an intrusive doubly-linked list threaded through an array of slots (indexes, not
/// references), so a decision for a known key costs one hash lookup and a few index writes, and
/// allocates nothing; only a new key may allocate (its slot, its dictionary entry).
public struct KeyedLimiters<Limiter: RateLimiter> {
    @usableFromInline
    struct Slot {
        @usableFromInline var key: String
        @usableFromInline var limiter: Limiter
        @usableFromInline var lastUsed: Int64
        /// The neighbour used more recently, or -1.
        @usableFromInline var newer: Int
        /// The neighbour used less recently, or -1.
        @usableFromInline var older: Int

        @usableFromInline
        init(key: String, limiter: Limiter, lastUsed: Int64) {
            self.key = key
            self.limiter = limiter
            self.lastUsed = lastUsed
            newer = -1
            older = -1
        }
    }

    public let configuration: Limiter.Configuration
    public let maxKeys: Int
    public let idleTimeout: Duration
    @usableFromInline let idle: Int64
    @usableFromInline var slots: [Slot] = []
    @usableFromInline var index: [String: Int] = [:]
    /// Most and least recently used slots, -1 when empty.
    @usableFromInline var newest = -1
    @usableFromInline var oldest = -1
    /// Slots of expired keys, reused before the array grows.
    @usableFromInline var freeSlots: [Int] = []
    @usableFromInline var evictionCount = 0
    @usableFromInline var expirationCount = 0

    public init(configuration: Limiter.Configuration, maxKeys: Int, idleTimeout: Duration) {
        precondition(maxKeys > 0, "maxKeys must be positive")
        precondition(idleTimeout > .zero, "idleTimeout must be positive")
        self.configuration = configuration
        self.maxKeys = maxKeys
        self.idleTimeout = idleTimeout
        idle = idleTimeout.wholeNanoseconds
    }

    /// Keys tracked now.
    public var count: Int { index.count }
    /// Keys dropped to make room for a new one.
    public var evictions: Int { evictionCount }
    /// Keys dropped after `idleTimeout` without a request.
    public var expirations: Int { expirationCount }

    /// The key's limiter decides a request arriving at `now` (a new or idle key gets a fresh one).
    @inlinable
    public mutating func decide(key: String, now: Duration) -> RateLimitDecision {
        let t = now.wholeNanoseconds
        guard let s = index[key] else {
            let s = insert(key, now: now)
            return slots[s].limiter.decide(now: now)
        }
        if t - slots[s].lastUsed >= idle {
            slots[s].limiter = Limiter(configuration: configuration, now: now)
        }
        slots[s].lastUsed = t
        if s != newest {
            unlink(s)
            linkAsNewest(s)
        }
        return slots[s].limiter.decide(now: now)
    }

    /// The limiter kept for `key`, if any (it may be idle).
    public func limiter(for key: String) -> Limiter? {
        index[key].map { slots[$0].limiter }
    }

    /// Keys from most to least recently used.
    public var keysByRecency: [String] {
        var keys: [String] = []
        var s = newest
        while s >= 0 {
            keys.append(slots[s].key)
            s = slots[s].older
        }
        return keys
    }

    /// Drops every key idle for `idleTimeout` at `now`; returns how many.
    @discardableResult
    public mutating func expireIdle(now: Duration) -> Int {
        expireIdle(now.wholeNanoseconds, atMost: .max)
    }

    // The helpers below are @inlinable too, so a caller in another module gets them specialized
    // for its limiter: called generically, through type metadata, they made a known key's
    // decision cost ~540 ns in ferry-policy-bench.
    @inlinable
    mutating func insert(_ key: String, now: Duration) -> Int {
        let t = now.wholeNanoseconds
        expireIdle(t, atMost: 2)
        let slot = Slot(key: key, limiter: Limiter(configuration: configuration, now: now), lastUsed: t)
        let s: Int
        if let free = freeSlots.popLast() {
            s = free
            slots[s] = slot
        } else if slots.count < maxKeys {
            s = slots.count
            slots.append(slot)
        } else {
            s = oldest
            index[slots[s].key] = nil
            unlink(s)
            slots[s] = slot
            evictionCount += 1
        }
        index[key] = s
        linkAsNewest(s)
        return s
    }

    @inlinable @discardableResult
    mutating func expireIdle(_ t: Int64, atMost limit: Int) -> Int {
        var dropped = 0
        while dropped < limit, oldest >= 0, t - slots[oldest].lastUsed >= idle {
            let s = oldest
            index[slots[s].key] = nil
            unlink(s)
            slots[s].key = ""
            freeSlots.append(s)
            dropped += 1
        }
        expirationCount += dropped
        return dropped
    }

    @inlinable
    mutating func unlink(_ s: Int) {
        let newer = slots[s].newer, older = slots[s].older
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[s].newer = -1
        slots[s].older = -1
    }

    @inlinable
    mutating func linkAsNewest(_ s: Int) {
        slots[s].older = newest
        if newest >= 0 { slots[newest].newer = s }
        newest = s
        if oldest < 0 { oldest = s }
    }
}

extension KeyedLimiters: Sendable where Limiter: Sendable, Limiter.Configuration: Sendable {}
extension KeyedLimiters.Slot: Sendable where Limiter: Sendable {}
