/// `envoy.extensions.common.ratelimit.v3.RateLimitDescriptor`'s entries: what a request's
/// `rate_limits` actions produce, and what a `LocalRateLimit` descriptor is matched against.
public struct RateLimitDescriptor: Sendable, Hashable, CustomStringConvertible {
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: String

        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry]) { self.entries = entries }

    /// `key=value, key=value`, as Envoy writes descriptors in its messages.
    public var description: String { entries.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") }
}

extension LocalRateLimitConfig {
    /// `envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor`: a descriptor with its own
    /// bucket. An entry with an empty value is a wildcard: every distinct value gets a bucket of
    /// its own, the least recently used beyond `max_dynamic_descriptors` being dropped.
    public struct Descriptor: Sendable {
        public var descriptor: RateLimitDescriptor
        public var tokenBucket: TokenBucket

        public init(_ descriptor: RateLimitDescriptor, tokenBucket: TokenBucket) {
            self.descriptor = descriptor
            self.tokenBucket = tokenBucket
        }

        public var isWildcard: Bool { descriptor.entries.contains { $0.value.isEmpty } }

        static func decode(_ r: ObjectReader) -> Descriptor? {
            defer { r.finish() }
            var entries: [RateLimitDescriptor.Entry] = []
            for e in r.objects("entries", "envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry") {
                defer { e.finish() }
                let value = e.string("value") ?? ""
                guard let key = e.requiredString("key", fix: "name the entry, e.g. `key: remote_address`") else { continue }
                entries.append(.init(key, value))
            }
            if r.raw("entries")?.elements?.isEmpty ?? true {
                r.diagnostics.error(r.has("entries") ? r.valueLocation(of: "entries") : r.node.location, r.join("entries"),
                                    "a descriptor needs at least one entry",
                                    fix: "add e.g. `entries: [{key: remote_address, value: \"\"}]` (an empty value matches every value)")
            }
            let bucket = r.object("token_bucket", "envoy.type.v3.TokenBucket").flatMap(TokenBucket.decode)
            if !r.has("token_bucket") {
                r.diagnostics.error(r.node.location, r.join("token_bucket"), "required field is missing",
                                    fix: "add `token_bucket: {max_tokens: 10, fill_interval: 1s}`")
            }
            if r.bool("shadow_mode") == true {
                r.diagnostics.error(r.location(of: "shadow_mode"), r.join("shadow_mode"),
                                    "LocalRateLimitDescriptor.shadow_mode is not supported yet by Ferry",
                                    fix: "remove it; filter_enforced puts the whole filter in shadow mode")
            }
            guard let bucket, !entries.isEmpty else { return nil }
            return Descriptor(RateLimitDescriptor(entries), tokenBucket: bucket)
        }
    }

    /// `envoy.extensions.common.ratelimit.v3.VhRateLimitsOptions`: how a route's rate limits
    /// combine with its virtual host's.
    public enum VhRateLimits: String, ConfigEnum {
        /// The virtual host's apply only when the route has none (any stage).
        case override = "OVERRIDE"
        /// Both apply, the route's first.
        case include = "INCLUDE"
        /// Only the route's apply.
        case ignore = "IGNORE"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    /// The descriptor fields: `descriptors` (duplicates refused, as Envoy), `rate_limits`,
    /// `stage`, `vh_rate_limits`, `always_consume_default_token_bucket`, `max_dynamic_descriptors`.
    static func decodeDescriptors(_ r: ObjectReader, into config: inout LocalRateLimitConfig) {
        let readers = r.objects("descriptors", "envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor")
        var seen: Set<RateLimitDescriptor> = []
        for reader in readers {
            guard let descriptor = Descriptor.decode(reader) else { continue }
            guard seen.insert(descriptor.descriptor).inserted else {
                r.diagnostics.error(reader.node.location, reader.path,
                                    "duplicate descriptor in the local rate descriptor: \(descriptor.descriptor)",
                                    fix: "give each descriptor a different set of entries")
                continue
            }
            config.descriptors.append(descriptor)
        }
        config.rateLimits = RouteRateLimit.decodeList(r, filterLevel: true)
        config.stage = r.uint32("stage", in: 0...10, fix: "use a stage from 0 to 10") ?? 0
        config.vhRateLimits = r.enumeration("vh_rate_limits", VhRateLimits.self) ?? .override
        config.alwaysConsumeDefaultTokenBucket = r.bool("always_consume_default_token_bucket") ?? true
        config.maxDynamicDescriptors = r.uint32("max_dynamic_descriptors", in: 1...Int64(UInt32.max),
                                                fix: "use at least 1 (the default is 20)") ?? 20
    }
}
