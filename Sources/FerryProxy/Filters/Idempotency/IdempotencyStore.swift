import FerryConfig
import FerryPolicy
import NIOConcurrencyHelpers
import NIOCore

/// A response kept for replay: status, the headers worth repeating (framing, `date` and
/// per-request headers removed) and the body, copied out of the upstream's buffers.
struct IdempotentResponse: Sendable {
    var status: Int
    var headers: HeaderMap
    var body: ByteBuffer

    /// What it costs the store: body and header bytes.
    var size: Int { body.readableBytes + headers.wireSize }
}

/// What the store says about a request with a key (see `IdempotencyTable`).
typealias IdempotencyDecision = IdempotencyTable<IdempotentResponse>.Decision

/// Where idempotency keys live. The in-process store (`LocalIdempotencyStore`) serves one proxy;
/// a shared store (Redis) lets every instance behind a load balancer see the same keys.
///
/// Results come back through callbacks that run on the stream's worker loop: a local
/// store calls them before returning, a networked one later. So a store may answer
/// asynchronously without the filter changing.
///
///     store.begin(key: k, fingerprint: f, now: now, loop: loop) { decision in
///         // on `loop`: .proceed (this request runs, then complete or abandon), .replay(r), ...
///     }
protocol IdempotencyStore: AnyObject, Sendable {
    /// Claims `key` for a request with `fingerprint`, or says why not (in flight, another
    /// request, a stored response, no room).
    func begin(key: String, fingerprint: UInt64, now: Duration, worker: Worker, _ done: @escaping (IdempotencyDecision) -> Void)
    /// Stores the response of the request that claimed `key`; `done(false)` when it was not
    /// kept (too large for the store, or the claim had lapsed).
    func complete(key: String, fingerprint: UInt64, response: IdempotentResponse, now: Duration, worker: Worker,
                  _ done: @escaping (Bool) -> Void)
    /// Releases the claim without a response: the next request with the key runs again.
    func abandon(key: String, fingerprint: UInt64, worker: Worker)
    /// The store's live state as JSON fields (no braces), for `/governance`.
    func stateFields() -> String
}

/// The in-process store: an `IdempotencyTable` behind a lock shared by the worker loops.
final class LocalIdempotencyStore: IdempotencyStore {
    private let table: NIOLockedValueBox<IdempotencyTable<IdempotentResponse>>

    init(config: IdempotencyConfig) {
        var c = IdempotencyTable<IdempotentResponse>.Configuration()
        c.ttl = config.ttl
        c.inFlightTimeout = config.inFlightTimeout
        c.maxEntries = config.maxEntries
        c.maxStoredBytes = config.maxStoredBytes
        table = NIOLockedValueBox(IdempotencyTable(configuration: c))
    }

    func begin(key: String, fingerprint: UInt64, now: Duration, worker: Worker, _ done: @escaping (IdempotencyDecision) -> Void) {
        done(table.withLockedValue { $0.begin(key: key, fingerprint: fingerprint, now: now) })
    }

    func complete(key: String, fingerprint: UInt64, response: IdempotentResponse, now: Duration, worker: Worker,
                  _ done: @escaping (Bool) -> Void) {
        let size = response.size
        done(table.withLockedValue { $0.complete(key: key, fingerprint: fingerprint, payload: response, size: size, now: now) })
    }

    func abandon(key: String, fingerprint: UInt64, worker: Worker) {
        table.withLockedValue { _ = $0.abandon(key: key, fingerprint: fingerprint) }
    }

    func stateFields() -> String {
        let (keys, inFlight, bytes, evictions) = table.withLockedValue { ($0.count, $0.inFlightCount, $0.storedBytes, $0.evictions) }
        return "\"store\":\"local\",\"keys\":\(keys),\"in_flight\":\(inFlight),\"stored_bytes\":\(bytes),\"evictions\":\(evictions)"
    }
}
