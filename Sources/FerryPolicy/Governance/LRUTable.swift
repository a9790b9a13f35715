/// A table of at most `capacity` values by key; adding one more drops the least recently used.
///
/// Recency is kept as an intrusive doubly-linked list over an array of entries (indexes, not
/// references): a lookup of a known key is one hash lookup and a few index writes.
public struct LRUTable<Key: Hashable, Value> {
    struct Entry {
        var key: Key
        var value: Value
        /// Neighbours towards the most and the least recently used end, -1 at the ends.
        var toNewer = -1, toOlder = -1
    }

    public let capacity: Int
    var entries: [Entry] = []
    var positions: [Key: Int] = [:]
    var mostRecent = -1, leastRecent = -1

    public init(capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
    }

    public var count: Int { positions.count }

    /// The value of `key`, made the most recently used; a missing key gets `make()`, dropping
    /// the least recently used entry when the table is full.
    public mutating func value(for key: Key, orInsert make: () -> Value) -> Value {
        if let p = positions[key] {
            moveToFront(p)
            return entries[p].value
        }
        let entry = Entry(key: key, value: make())
        let p: Int
        if entries.count < capacity {
            p = entries.count
            entries.append(entry)
        } else {
            p = leastRecent
            positions[entries[p].key] = nil
            detach(p)
            entries[p] = entry
        }
        positions[key] = p
        attachAsMostRecent(p)
        return entry.value
    }

    /// Keys from the most to the least recently used.
    public var keysByRecency: [Key] {
        var keys: [Key] = []
        var p = mostRecent
        while p >= 0 {
            keys.append(entries[p].key)
            p = entries[p].toOlder
        }
        return keys
    }

    private mutating func moveToFront(_ p: Int) {
        guard p != mostRecent else { return }
        detach(p)
        attachAsMostRecent(p)
    }

    private mutating func detach(_ p: Int) {
        let newer = entries[p].toNewer, older = entries[p].toOlder
        if newer >= 0 { entries[newer].toOlder = older } else { mostRecent = older }
        if older >= 0 { entries[older].toNewer = newer } else { leastRecent = newer }
        entries[p].toNewer = -1
        entries[p].toOlder = -1
    }

    private mutating func attachAsMostRecent(_ p: Int) {
        entries[p].toOlder = mostRecent
        if mostRecent >= 0 { entries[mostRecent].toNewer = p }
        mostRecent = p
        if leastRecent < 0 { leastRecent = p }
    }
}

extension LRUTable: Sendable where Key: Sendable, Value: Sendable {}
extension LRUTable.Entry: Sendable where Key: Sendable, Value: Sendable {}
