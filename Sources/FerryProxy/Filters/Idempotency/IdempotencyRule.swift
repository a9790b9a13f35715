import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// One compiled `Idempotency` (the listener's, or a route's): its key store, shared by every
/// loop and kept across reloads while the config is unchanged, and its stats
/// `<stat_prefix>.idempotency.*`.
final class IdempotencyRule: GovernanceState {
    let config: IdempotencyConfig
    let store: any IdempotencyStore
    let executed, replayed, conflict, mismatch, notStored, tableFull: CounterID
    var kind: String { "idempotency" }
    var statNames: [(label: String, name: String)] {
        ["executed", "replayed", "conflict", "mismatch", "not_stored", "table_full"].map { ($0, "\(config.statPrefix).idempotency.\($0)") }
    }

    init(config: IdempotencyConfig, store: StatsStore) {
        self.config = config
        self.store = config.redis.map { RedisIdempotencyStore(config: config, redis: $0) } ?? LocalIdempotencyStore(config: config)
        func c(_ name: String) -> CounterID { store.counter(.plain("\(config.statPrefix).idempotency.\(name)")) }
        executed = c("executed")
        replayed = c("replayed")
        conflict = c("conflict")
        mismatch = c("mismatch")
        notStored = c("not_stored")
        tableFull = c("table_full")
    }

    /// Response headers not replayed: framing and connection fields (the replay sets its own),
    /// and what belongs to the first exchange only.
    static let unreplayedHeaders: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive", "date",
                                                 "x-envoy-upstream-service-time", "x-request-id", "idempotent-replayed"]

    /// Final responses kept for replay: any status below 500 but those that say the request was
    /// not carried out and may be sent again (408, 409, 425, 429). 5xx and local replies (the
    /// proxy's own 503/504, another filter's refusal) release the key instead.
    static func stores(status: Int) -> Bool {
        (200..<500).contains(status) && status != 408 && status != 409 && status != 425 && status != 429
    }

    /// The key in the store: the route, the scope header's value (hashed: it may be a
    /// credential) and the client's key.
    func storeKey(_ key: String, stream: ActiveStream) -> String {
        var route = stream.virtualHost?.name ?? ""
        if let r = stream.route {
            if !r.name.isEmpty {
                route += "/" + r.name
            } else if let index = stream.virtualHost?.routes.firstIndex(where: { $0 === r }) {
                route += "/\(index)"
            }
        }
        var scope = ""
        if let header = config.scopeHeader {
            scope = stream.request.headers.first(header).map { String(XXHash64.hash($0), radix: 16) } ?? "-"
        }
        return route + "\u{0}" + scope + "\u{0}" + key
    }

    /// Method, target (path and query, as received after normalization) and body.
    static func fingerprint(_ stream: ActiveStream) -> UInt64 {
        let chunks = stream.requestBodyBuffer?.chunks ?? []
        var bytes = ByteBuffer()
        bytes.reserveCapacity(stream.request.method.utf8.count + stream.request.path.utf8.count + 2
                                  + chunks.reduce(0) { $0 + $1.readableBytes })
        bytes.writeString(stream.request.method)
        bytes.writeInteger(UInt8(0))
        bytes.writeString(stream.request.path)
        bytes.writeInteger(UInt8(0))
        for chunk in chunks { bytes.writeImmutableBuffer(chunk) }
        return bytes.withUnsafeReadableBytes { XXHash64.hash($0) }
    }

    func json(now: NIODeadline) -> String {
        let fields = ["\"kind\":\"idempotency\"", "\"stat_prefix\":\(JSON.quote(config.statPrefix))",
                      "\"header_name\":\(JSON.quote(config.headerName))",
                      "\"methods\":[" + config.methods.map(JSON.quote).joined(separator: ",") + "]",
                      "\"ttl_ms\":\(TimeAmount(config.ttl).nanoseconds / 1_000_000)", "\"max_entries\":\(config.maxEntries)",
                      "\"max_stored_bytes\":\(config.maxStoredBytes)", store.stateFields()]
        return "{" + fields.joined(separator: ",") + "}"
    }
}
