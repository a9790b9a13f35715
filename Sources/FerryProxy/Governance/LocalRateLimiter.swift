import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// The buckets of one `LocalRateLimit` and Envoy 1.40's rule for spending them
/// (`LocalRateLimiterImpl::requestAllowed`):
///
/// 1. Each request descriptor finds at most one bucket: the configured descriptor with exactly
///    its entries, else the first wildcard descriptor it fits (same keys in the same order, equal
///    values where the configured value is not empty), which keeps one bucket per distinct
///    descriptor. A configured descriptor two request descriptors find is spent twice.
/// 2. The matched buckets are spent slowest-refilling first (a stable sort by fill rate); the
///    first without a token rejects the request, and the ones after it are not spent.
/// 3. Without a match, or with `always_consume_default_token_bucket`, the default bucket is
///    spent last; without a default bucket that step admits.
///
/// The x-ratelimit headers report the bucket that rejected, else the slowest matched one,
/// else the default one. Shared by every worker loop: the buckets are lock-free; a wildcard's
/// table of buckets takes a lock only when a request fits that wildcard.
final class LocalRateLimiter: Sendable {
    let defaultBucket: AtomicTokenBucket?
    let exact: [RateLimitDescriptor: AtomicTokenBucket]
    let wildcards: [WildcardDescriptor]
    let alwaysConsumeDefault: Bool

    init(config: LocalRateLimitConfig, now: Int64) {
        defaultBucket = config.tokenBucket.map { AtomicTokenBucket($0, now: now) }
        var exact: [RateLimitDescriptor: AtomicTokenBucket] = [:]
        var wildcards: [WildcardDescriptor] = []
        for d in config.descriptors {
            if d.isWildcard {
                wildcards.append(WildcardDescriptor(d, capacity: Int(config.maxDynamicDescriptors)))
            } else {
                exact[d.descriptor] = AtomicTokenBucket(d.tokenBucket, now: now)
            }
        }
        self.exact = exact
        self.wildcards = wildcards
        alwaysConsumeDefault = config.alwaysConsumeDefaultTokenBucket
    }

    struct Decision {
        var allowed: Bool
        /// The bucket the x-ratelimit headers describe; nil when none applied.
        var reported: AtomicTokenBucket?
    }

    /// The bucket a request descriptor spends, if any.
    func bucket(for descriptor: RateLimitDescriptor, now: Int64) -> AtomicTokenBucket? {
        if let bucket = exact[descriptor] { return bucket }
        for wildcard in wildcards where wildcard.fits(descriptor) { return wildcard.bucket(for: descriptor, now: now) }
        return nil
    }

    /// Spends the buckets `descriptors` match, as Envoy does (see the type's comment).
    func decide(_ descriptors: [RateLimitDescriptor], now: Int64) -> Decision {
        var matched: [AtomicTokenBucket] = []
        if !descriptors.isEmpty && (!exact.isEmpty || !wildcards.isEmpty) {
            matched = descriptors.compactMap { bucket(for: $0, now: now) }
            // Slowest refill first: the most nanoseconds per token. Swift's sort is stable.
            if matched.count > 1 { matched.sort { $0.nanosPerToken > $1.nanosPerToken } }
        }
        for bucket in matched where !bucket.take(now: now) { return Decision(allowed: false, reported: bucket) }
        if matched.isEmpty || alwaysConsumeDefault, let defaultBucket {
            if !defaultBucket.take(now: now) { return Decision(allowed: false, reported: defaultBucket) }
            return Decision(allowed: true, reported: matched.first ?? defaultBucket)
        }
        return Decision(allowed: true, reported: matched.first)
    }

    /// `"descriptors":[...]` for `/governance`: each exact descriptor's tokens, each wildcard's
    /// number of buckets.
    func descriptorsJSON(now: NIODeadline) -> String {
        let t = Int64(now.uptimeNanoseconds)
        let exactItems = exact.sorted { $0.key.description < $1.key.description }.map { descriptor, bucket in
            "{\"entries\":\(JSON.quote(descriptor.description)),\"max_tokens\":\(Int(bucket.maxTokens)),\"tokens\":\(Int(bucket.available(now: t)))}"
        }
        let wildcardItems = wildcards.map { w in
            "{\"entries\":\(JSON.quote(w.pattern.description)),\"max_tokens\":\(w.tokenBucket.maxTokens),\"buckets\":\(w.count)}"
        }
        return "\"descriptors\":[" + (exactItems + wildcardItems).joined(separator: ",") + "]"
    }
}

/// A descriptor with a wildcard entry and its buckets, one per distinct request descriptor that
/// fits it, at most `capacity` of them: the least recently used is dropped first (its values
/// start with a full bucket when they come back), as Envoy's dynamic descriptors.
final class WildcardDescriptor: Sendable {
    let pattern: RateLimitDescriptor
    let tokenBucket: LocalRateLimitConfig.TokenBucket
    let capacity: Int
    private let table: NIOLockedValueBox<LRUTable<RateLimitDescriptor, AtomicTokenBucket>>

    init(_ descriptor: LocalRateLimitConfig.Descriptor, capacity: Int) {
        pattern = descriptor.descriptor
        tokenBucket = descriptor.tokenBucket
        self.capacity = max(capacity, 1)
        table = NIOLockedValueBox(LRUTable(capacity: self.capacity))
    }

    /// Same keys in the same order; equal values where the pattern's value is not empty.
    func fits(_ descriptor: RateLimitDescriptor) -> Bool {
        guard descriptor.entries.count == pattern.entries.count else { return false }
        for (wanted, entry) in zip(pattern.entries, descriptor.entries) {
            guard wanted.key == entry.key, wanted.value.isEmpty || wanted.value == entry.value else { return false }
        }
        return true
    }

    func bucket(for descriptor: RateLimitDescriptor, now: Int64) -> AtomicTokenBucket {
        table.withLockedValue { table in
            table.value(for: descriptor, orInsert: { AtomicTokenBucket(tokenBucket, now: now) })
        }
    }

    /// Distinct descriptors with a bucket now (for `/governance`).
    var count: Int { table.withLockedValue { $0.count } }
}

extension AtomicTokenBucket {
    convenience init(_ bucket: LocalRateLimitConfig.TokenBucket, now: Int64) {
        self.init(maxTokens: bucket.maxTokens, tokensPerFill: bucket.tokensPerFill,
                  fillIntervalNanos: Int64(TimeAmount(bucket.fillInterval).nanoseconds), now: now)
    }
}
