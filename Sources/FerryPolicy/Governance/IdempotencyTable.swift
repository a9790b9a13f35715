/// The bookkeeping behind the `Idempotency-Key` header (IETF httpapi draft
/// "The Idempotency-Key HTTP Header Field"): each key remembers the fingerprint of the request
/// that first used it (a hash of method, target and body, chosen by the caller) and either that
/// it is still in flight or the response it got, stored as an opaque `Payload`.
///
/// `begin` decides a request carrying a key:
/// - unknown (or expired) key → `proceed`, and the key is now in flight;
/// - known key, other fingerprint → `mismatch` (the draft's 422: a key reused for another request;
///   checked first, so misuse is reported even while the first request is in flight);
/// - known key, same fingerprint, in flight → `conflictInFlight` (the draft's 409);
/// - known key, same fingerprint, completed → `replay(payload)`;
/// - no room (all `maxEntries` keys are in flight) → `tableFull`: the caller refuses (503) rather
///   than run the request unprotected.
///
/// `complete` stores the response (then replayed for `ttl`); `abandon` forgets an in-flight key
/// (the request failed in a way the client may retry). A key left in flight longer than
/// `inFlightTimeout` is released, so a lost completion cannot block its key for good.
///
/// Bounds: at most `maxEntries` keys and `maxStoredBytes` of stored responses (by the sizes the
/// caller gives). To make room, expired entries go first, then the oldest completed ones (counted
/// in `evictions`); in-flight keys are never evicted. A response larger than `maxStoredBytes` is
/// not stored: its key is released and a retry runs again.
public struct IdempotencyTable<Payload> {
    public struct Configuration: Sendable, Equatable {
        /// How long a completed response is replayed (default 24 hours).
        public var ttl: Duration = .seconds(86_400)
        /// How long a key may stay in flight (default 60 s).
        public var inFlightTimeout: Duration = .seconds(60)
        public var maxEntries = 10_000
        public var maxStoredBytes = 64 << 20

        public init() {}
    }

    public enum Decision {
        case proceed
        case conflictInFlight
        case mismatch
        case replay(Payload)
        case tableFull
    }

    enum State {
        case inFlight
        case completed(Payload, size: Int)
    }

    struct Entry {
        var fingerprint: UInt64
        var state: State
        var expiresAt: Int64
        /// Identifies this state of the entry in the expiry queues (older queue items are stale).
        var serial: UInt64
    }

    struct QueueItem: Sendable {
        var key: String
        var serial: UInt64
    }

    public let configuration: Configuration
    private var entries: [String: Entry] = [:]
    /// Keys in the order they went in flight, which is also the order their leases run out.
    private var inFlightQueue = FIFO<QueueItem>()
    /// Keys in the order they completed, which is also the order they expire.
    private var completedQueue = FIFO<QueueItem>()
    private var nextSerial: UInt64 = 0
    public private(set) var storedBytes = 0
    public private(set) var inFlightCount = 0
    /// Completed entries dropped before their time to make room.
    public private(set) var evictions = 0

    public init(configuration: Configuration) {
        precondition(configuration.maxEntries > 0 && configuration.maxStoredBytes >= 0, "bad bounds")
        precondition(configuration.ttl > .zero && configuration.inFlightTimeout > .zero, "times must be positive")
        self.configuration = configuration
    }

    /// Keys remembered now (in flight or completed).
    public var count: Int { entries.count }

    public mutating func begin(key: String, fingerprint: UInt64, now: Duration) -> Decision {
        let t = now.wholeNanoseconds
        sweep(t, atMost: 2)
        if let entry = entries[key] {
            if entry.expiresAt > t {
                guard entry.fingerprint == fingerprint else { return .mismatch }
                switch entry.state {
                case .inFlight: return .conflictInFlight
                case .completed(let payload, _): return .replay(payload)
                }
            }
            remove(key)
        }
        if entries.count >= configuration.maxEntries {
            sweep(t, atMost: .max)
            while entries.count >= configuration.maxEntries, evictOldestCompleted() {}
            if entries.count >= configuration.maxEntries { return .tableFull }
        }
        let serial = takeSerial()
        let expiresAt = saturatingAdd(t, configuration.inFlightTimeout.wholeNanoseconds)
        entries[key] = Entry(fingerprint: fingerprint, state: .inFlight, expiresAt: expiresAt, serial: serial)
        inFlightCount += 1
        inFlightQueue.append(QueueItem(key: key, serial: serial))
        if inFlightQueue.count > 2 * inFlightCount + 64 { Self.compact(&inFlightQueue, entries) }
        return .proceed
    }

    /// Stores the response of the in-flight request `key`/`fingerprint` for replay; false when
    /// there is no such request in flight, or the response is too large to keep.
    @discardableResult
    public mutating func complete(key: String, fingerprint: UInt64, payload: Payload, size: Int,
                                  now: Duration) -> Bool {
        guard var entry = inFlightEntry(key, fingerprint) else { return false }
        guard size <= configuration.maxStoredBytes else {
            remove(key)
            return false
        }
        inFlightCount -= 1
        while storedBytes + size > configuration.maxStoredBytes, evictOldestCompleted() {}
        entry.state = .completed(payload, size: max(0, size))
        entry.expiresAt = saturatingAdd(now.wholeNanoseconds, configuration.ttl.wholeNanoseconds)
        entry.serial = takeSerial()
        entries[key] = entry
        storedBytes += max(0, size)
        completedQueue.append(QueueItem(key: key, serial: entry.serial))
        if completedQueue.count > 2 * (entries.count - inFlightCount) + 64 { Self.compact(&completedQueue, entries) }
        return true
    }

    /// Forgets the in-flight request `key`/`fingerprint` (a retry will proceed); false if none.
    @discardableResult
    public mutating func abandon(key: String, fingerprint: UInt64) -> Bool {
        guard inFlightEntry(key, fingerprint) != nil else { return false }
        remove(key)
        return true
    }

    /// Drops every entry expired at `now`; returns how many.
    @discardableResult
    public mutating func expire(now: Duration) -> Int {
        let before = entries.count
        sweep(now.wholeNanoseconds, atMost: .max)
        return before - entries.count
    }

    private func inFlightEntry(_ key: String, _ fingerprint: UInt64) -> Entry? {
        guard let entry = entries[key], entry.fingerprint == fingerprint else { return nil }
        guard case .inFlight = entry.state else { return nil }
        return entry
    }

    private mutating func takeSerial() -> UInt64 {
        nextSerial += 1
        return nextSerial
    }

    private func isStale(_ item: QueueItem) -> Bool {
        entries[item.key]?.serial != item.serial
    }

    /// Drops the stale items of a queue, which pile up behind a long-lived front.
    private static func compact(_ queue: inout FIFO<QueueItem>, _ entries: [String: Entry]) {
        queue.removeAll { entries[$0.key]?.serial != $0.serial }
    }

    private mutating func remove(_ key: String) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        switch entry.state {
        case .inFlight: inFlightCount -= 1
        case .completed(_, let size): storedBytes -= size
        }
    }

    /// Pops the fronts of both queues while they are stale or expired, up to `limit` each.
    private mutating func sweep(_ t: Int64, atMost limit: Int) {
        var popped = 0
        while popped < limit, let item = inFlightQueue.first, isStale(item) || entries[item.key]!.expiresAt <= t {
            if !isStale(item) { remove(item.key) }
            inFlightQueue.removeFirst()
            popped += 1
        }
        popped = 0
        while popped < limit, let item = completedQueue.first, isStale(item) || entries[item.key]!.expiresAt <= t {
            if !isStale(item) { remove(item.key) }
            completedQueue.removeFirst()
            popped += 1
        }
    }

    /// Drops the oldest completed entry; false when there is none.
    private mutating func evictOldestCompleted() -> Bool {
        while let item = completedQueue.first {
            completedQueue.removeFirst()
            if !isStale(item) {
                remove(item.key)
                evictions += 1
                return true
            }
        }
        return false
    }
}

extension IdempotencyTable: Sendable where Payload: Sendable {}
extension IdempotencyTable.State: Sendable where Payload: Sendable {}
extension IdempotencyTable.Entry: Sendable where Payload: Sendable {}
extension IdempotencyTable.Decision: Sendable where Payload: Sendable {}
extension IdempotencyTable.Decision: Equatable where Payload: Equatable {}
