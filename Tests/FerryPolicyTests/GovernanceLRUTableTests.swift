import FerryPolicy
import Testing

/// `LRUTable`: a bounded table that drops its least recently used entry.
@Suite("LRU table")
struct GovernanceLRUTableTests {
    @Test("a lookup makes a key the most recent; a new key beyond capacity drops the least recent, which comes back made anew")
    func evictsLeastRecentlyUsed() {
        var table = LRUTable<String, Int>(capacity: 3)
        var made = 0
        func get(_ key: String) -> Int { table.value(for: key) { made += 1; return made } }
        #expect([get("a"), get("b"), get("c")] == [1, 2, 3])
        #expect(get("a") == 1 && table.keysByRecency == ["a", "c", "b"])
        #expect(get("d") == 4 && table.count == 3 && table.keysByRecency == ["d", "a", "c"])
        #expect(get("b") == 5 && table.keysByRecency == ["b", "d", "a"])
        #expect(get("d") == 4 && get("d") == 4 && table.keysByRecency == ["d", "b", "a"])
    }

    @Test("a table of one keeps only the last key")
    func capacityOne() {
        var table = LRUTable<Int, String>(capacity: 1)
        #expect(table.value(for: 1) { "one" } == "one")
        #expect(table.value(for: 2) { "two" } == "two")
        #expect(table.value(for: 1) { "again" } == "again" && table.count == 1 && table.keysByRecency == [1])
    }
}
