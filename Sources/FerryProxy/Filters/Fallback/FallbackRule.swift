import FerryConfig
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// One compiled `Fallback` config (the listener's, or a route's): its stale-response cache,
/// shared by every worker loop and kept across reloads while the config is unchanged, and its
/// stats `<stat_prefix>.fallback.*`.
///
/// The cache sits behind a lock taken once per good GET response it keeps and once per
/// fallback it serves; both copy at most `max_body_bytes`.
final class FallbackRule: GovernanceState {
    /// A kept response.
    struct Entry {
        var status: Int
        var headers: HeaderMap
        var body: ByteBuffer
        var storedAt: NIODeadline
        var sequence: UInt64
    }

    /// Entries by key with insertion order for eviction (oldest first; a replaced entry moves
    /// to the back, its old place is skipped).
    struct Cache {
        var entries: [String: Entry] = [:]
        var order: [(key: String, sequence: UInt64)] = []
        var head = 0
        var nextSequence: UInt64 = 0

        mutating func store(_ key: String, _ entry: Entry, limit: Int) {
            var entry = entry
            nextSequence += 1
            entry.sequence = nextSequence
            entries[key] = entry
            order.append((key, nextSequence))
            while entries.count > limit, head < order.count {
                let (oldKey, sequence) = order[head]
                head += 1
                if entries[oldKey]?.sequence == sequence { entries[oldKey] = nil }
            }
            // Drop the consumed and stale part of the order list once it dominates.
            if head > 64 && head * 2 > order.count {
                order = order[head...].filter { entries[$0.key]?.sequence == $0.sequence }
                head = 0
            }
        }
    }

    let config: FallbackConfig
    /// The first (only) `stale` action's settings.
    let stale: FallbackConfig.Stale?
    /// The hooks of its `FallbackFilter`: without a stale action there is nothing to key,
    /// capture or store (worked out once: the stream asks for every filter).
    let filterHooks: FilterHooks
    let staleServed, backupServed, staticServed, unavailable, shadow: CounterID
    private let cache = NIOLockedValueBox(Cache())

    var kind: String { "fallback" }
    var statNames: [(label: String, name: String)] {
        ["stale", "backup", "static", "unavailable", "shadow"].map { ($0, "\(config.statPrefix).fallback.\($0)") }
    }

    init(config: FallbackConfig, store: StatsStore) {
        self.config = config
        stale = config.actions.lazy.compactMap { if case .stale(let s) = $0 { s } else { nil } }.first
        filterHooks = stale == nil ? [.interceptResponse, .encodeHeaders]
            : [.decodeHeaders, .interceptResponse, .encodeHeaders, .responseBody, .onComplete]
        func c(_ name: String) -> CounterID { store.counter(.plain("\(config.statPrefix).fallback.\(name)")) }
        staleServed = c("stale")
        backupServed = c("backup")
        staticServed = c("static")
        unavailable = c("unavailable")
        shadow = c("shadow")
    }

    static func fingerprint(_ config: FallbackConfig) -> String { "\(config.statPrefix)|\(config.on.map(\.rawValue).sorted())|\(config.actions)" }

    /// The cache key of `stream`'s request: its route and the configured part of the request;
    /// nil when the rule keeps nothing, for requests other than GET and HEAD, and when the
    /// header or query parameter the key needs is absent.
    func staleKey(for stream: ActiveStream) -> String? {
        guard let stale, stream.request.method == "GET" || stream.request.method == "HEAD", let route = stream.routeKey else { return nil }
        let request = stream.request
        let part: String
        switch stale.key {
        case .pathAndQuery: part = request.path
        case .path: part = String(request.pathWithoutQuery)
        case .header(let name):
            guard let value = request.headers.first(name) else { return nil }
            part = value
        case .queryParameter(let name):
            guard let value = Self.queryParameter(name, in: request.query) else { return nil }
            part = value
        }
        return route + "\n" + part
    }

    static func queryParameter<S: StringProtocol>(_ name: String, in query: S?) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0] == name { return parts.count > 1 ? String(parts[1]) : "" }
        }
        return nil
    }

    func store(_ key: String, status: Int, headers: HeaderMap, body: ByteBuffer, now: NIODeadline) {
        guard let stale else { return }
        let entry = Entry(status: status, headers: headers, body: body, storedAt: now, sequence: 0)
        cache.withLockedValue { $0.store(key, entry, limit: stale.maxEntries) }
    }

    /// The kept response for `key` if it is younger than `max_age`.
    func lookup(_ key: String, now: NIODeadline) -> Entry? {
        guard let stale else { return nil }
        guard let entry = cache.withLockedValue({ $0.entries[key] }) else { return nil }
        return now - entry.storedAt <= TimeAmount(stale.maxAge) ? entry : nil
    }

    func json(now: NIODeadline) -> String {
        let actions = config.actions.map { action -> String in
            switch action {
            case .stale: "\"stale\""
            case .backupCluster(let name, _, _): JSON.quote("backup_cluster:" + name)
            case .staticReply: "\"static\""
            }
        }
        let entries = cache.withLockedValue { $0.entries.count }
        return "{\"kind\":\"fallback\",\"stat_prefix\":\(JSON.quote(config.statPrefix)),"
            + "\"on\":[\(config.on.map { JSON.quote($0.rawValue) }.sorted().joined(separator: ","))],"
            + "\"actions\":[\(actions.joined(separator: ","))],\"stale_entries\":\(entries)}"
    }
}
