import FerryPolicy
import Testing

@Suite("Idempotency table")
struct GovernanceIdempotencyTests {
    typealias Table = IdempotencyTable<String>

    static func table(_ configure: (inout Table.Configuration) -> Void = { _ in }) -> Table {
        var c = Table.Configuration()
        c.ttl = .seconds(100)
        c.inFlightTimeout = .seconds(10)
        configure(&c)
        return Table(configuration: c)
    }

    @Test("the first request proceeds; a retry conflicts while it runs and replays its response after")
    func proceedConflictReplay() {
        var table = Self.table()
        #expect(table.begin(key: "k", fingerprint: 1, now: .zero) == .proceed)
        #expect(table.begin(key: "k", fingerprint: 1, now: .seconds(1)) == .conflictInFlight)
        #expect(table.inFlightCount == 1)
        #expect(table.complete(key: "k", fingerprint: 1, payload: "201 created", size: 11, now: .seconds(2)) == true)
        #expect(table.begin(key: "k", fingerprint: 1, now: .seconds(3)) == .replay("201 created"))
        #expect(table.storedBytes == 11 && table.inFlightCount == 0 && table.count == 1)
        #expect(table.complete(key: "k", fingerprint: 1, payload: "again", size: 5, now: .seconds(4)) == false)
    }

    @Test("a key reused with another fingerprint is a mismatch, in flight or completed")
    func mismatch() {
        var table = Self.table()
        _ = table.begin(key: "k", fingerprint: 1, now: .zero)
        #expect(table.begin(key: "k", fingerprint: 2, now: .zero) == .mismatch)
        #expect(table.complete(key: "k", fingerprint: 2, payload: "x", size: 1, now: .zero) == false)
        #expect(table.abandon(key: "k", fingerprint: 2) == false)
        table.complete(key: "k", fingerprint: 1, payload: "ok", size: 2, now: .zero)
        #expect(table.begin(key: "k", fingerprint: 2, now: .seconds(1)) == .mismatch)
    }

    @Test("responses are replayed for ttl; a key in flight longer than inFlightTimeout is released")
    func expiry() {
        var table = Self.table()
        _ = table.begin(key: "done", fingerprint: 1, now: .zero)
        table.complete(key: "done", fingerprint: 1, payload: "ok", size: 2, now: .seconds(1))
        _ = table.begin(key: "stuck", fingerprint: 1, now: .seconds(1))
        #expect(table.begin(key: "stuck", fingerprint: 1, now: .milliseconds(10_999)) == .conflictInFlight)
        #expect(table.begin(key: "stuck", fingerprint: 2, now: .seconds(11)) == .proceed)
        #expect(table.begin(key: "done", fingerprint: 1, now: .milliseconds(100_999)) == .replay("ok"))
        #expect(table.count == 1)  // the second "stuck" ran out of time at 21 s and was swept meanwhile
        #expect(table.expire(now: .seconds(101)) == 1 && table.storedBytes == 0 && table.count == 0)
        #expect(table.begin(key: "done", fingerprint: 9, now: .seconds(101)) == .proceed)
    }

    @Test("abandon lets a retry run again")
    func abandon() {
        var table = Self.table()
        _ = table.begin(key: "k", fingerprint: 1, now: .zero)
        #expect(table.abandon(key: "k", fingerprint: 1) && !table.abandon(key: "k", fingerprint: 1))
        #expect(table.begin(key: "k", fingerprint: 1, now: .zero) == .proceed)
    }

    @Test("at maxEntries the oldest completed entry makes room; with every key in flight the table is full")
    func entryBound() {
        var table = Self.table { $0.maxEntries = 3 }
        for (i, key) in ["a", "b"].enumerated() {
            _ = table.begin(key: key, fingerprint: 1, now: .seconds(Int64(i)))
            table.complete(key: key, fingerprint: 1, payload: key, size: 1, now: .seconds(Int64(i)))
        }
        _ = table.begin(key: "c", fingerprint: 1, now: .seconds(2))
        #expect(table.begin(key: "d", fingerprint: 1, now: .seconds(3)) == .proceed)
        #expect(table.evictions == 1 && table.begin(key: "a", fingerprint: 1, now: .seconds(3)) == .proceed)
        #expect(table.evictions == 2 && table.begin(key: "b", fingerprint: 1, now: .seconds(3)) == .tableFull)
        #expect(table.count == 3 && table.inFlightCount == 3)
    }

    @Test("stored bytes stay within maxStoredBytes, oldest completed first; an oversized response is not kept")
    func byteBound() {
        var table = Self.table { $0.maxStoredBytes = 100 }
        for (i, size) in [40, 40, 30].enumerated() {
            _ = table.begin(key: "k\(i)", fingerprint: 1, now: .zero)
            let stored = table.complete(key: "k\(i)", fingerprint: 1, payload: "r\(i)", size: size,
                                        now: .seconds(Int64(i)))
            #expect(stored)
        }
        #expect(table.storedBytes == 70 && table.evictions == 1)
        #expect(table.begin(key: "k0", fingerprint: 1, now: .seconds(5)) == .proceed)
        #expect(table.begin(key: "k1", fingerprint: 1, now: .seconds(5)) == .replay("r1"))
        #expect(table.complete(key: "k0", fingerprint: 1, payload: "huge", size: 101, now: .seconds(5)) == false)
        #expect(table.begin(key: "k0", fingerprint: 1, now: .seconds(6)) == .proceed && table.storedBytes == 70)
    }

    @Test("property: random traffic replays only what was stored for that request, within the bounds",
          arguments: [31, 32] as [UInt64])
    func randomTraffic(seed: UInt64) {
        var table = Self.table {
            $0.maxEntries = 16
            $0.maxStoredBytes = 200
        }
        var random = FastRandom(seed: seed)
        var stored: [String: (fingerprint: UInt64, payload: String)] = [:]
        var t: Int64 = 0, replays = 0
        for step in 0..<30_000 {
            t += Int64(random.next(below: 20_000_000))
            let now = Duration.nanoseconds(t)
            let key = "k\(random.next(below: 40))", fingerprint = random.next(below: 2)
            switch table.begin(key: key, fingerprint: fingerprint, now: now) {
            case .proceed:
                if random.next(below: 4) == 0 {
                    table.abandon(key: key, fingerprint: fingerprint)
                } else {
                    let payload = "\(key)/\(fingerprint)/\(step)"
                    let size = Int(random.next(below: 40))
                    if table.complete(key: key, fingerprint: fingerprint, payload: payload, size: size, now: now) {
                        stored[key] = (fingerprint, payload)
                    }
                }
            case .replay(let payload):
                #expect(stored[key].map { $0 == (fingerprint, payload) } == true)
                replays += 1
            case .mismatch:
                #expect(stored[key].map { $0.fingerprint != fingerprint } ?? true)
            case .conflictInFlight, .tableFull:
                Issue.record("every request completes or is abandoned before the next one")
            }
            #expect(table.count <= 16 && table.storedBytes <= 200 && table.inFlightCount == 0)
        }
        #expect(replays > 1000 && table.evictions > 0)
    }
}
