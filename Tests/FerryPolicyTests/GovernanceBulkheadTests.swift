import FerryPolicy
import Testing

@Suite("Bulkhead")
struct GovernanceBulkheadTests {
    static let config = Bulkhead.Configuration(maxConcurrent: 2, maxQueue: 2, maxWait: .seconds(1))

    /// A bulkhead with both places taken at time 0.
    static func full() -> Bulkhead {
        var bulkhead = Bulkhead(configuration: config)
        _ = bulkhead.tryEnter(now: .zero)
        _ = bulkhead.tryEnter(now: .zero)
        return bulkhead
    }

    static func ticket(_ admission: Bulkhead.Admission) -> Bulkhead.Ticket? {
        if case .queued(let t) = admission { return t }
        return nil
    }

    @Test("admits up to maxConcurrent, queues up to maxQueue, rejects the rest; leave hands places on in order")
    func admitQueueReject() {
        var bulkhead = Bulkhead(configuration: Self.config)
        #expect(bulkhead.tryEnter(now: .zero) == .admitted && bulkhead.tryEnter(now: .zero) == .admitted)
        let first = Self.ticket(bulkhead.tryEnter(now: .milliseconds(10)))
        let second = Self.ticket(bulkhead.tryEnter(now: .milliseconds(20)))
        #expect(first != nil && second != nil && first != second)
        #expect(bulkhead.tryEnter(now: .milliseconds(30)) == .rejected)
        #expect(bulkhead.occupancy == 2 && bulkhead.queueDepth == 2)
        #expect(bulkhead.nextDeadline == .milliseconds(1_010))
        #expect(bulkhead.leave(now: .milliseconds(100)) == first)
        #expect(bulkhead.leave(now: .milliseconds(100)) == second)
        #expect(bulkhead.occupancy == 2 && bulkhead.queueDepth == 0 && bulkhead.nextDeadline == nil)
        #expect(bulkhead.leave(now: .milliseconds(200)) == nil && bulkhead.occupancy == 1)
        #expect(bulkhead.tryEnter(now: .milliseconds(300)) == .admitted)
    }

    @Test("waiters whose wait reached maxWait are expired oldest first and never admitted")
    func expiry() {
        var bulkhead = Self.full()
        let old = Self.ticket(bulkhead.tryEnter(now: .zero))!
        let young = Self.ticket(bulkhead.tryEnter(now: .milliseconds(500)))!
        // At 1 s the old waiter's time is up: the freed place goes to the young one.
        #expect(bulkhead.leave(now: .seconds(1)) == young)
        #expect(bulkhead.expire(now: .seconds(1)) == [old] && bulkhead.queueDepth == 0)
        #expect(bulkhead.expire(now: .seconds(5)).isEmpty)
        #expect(bulkhead.leave(now: .seconds(2)) == nil && bulkhead.occupancy == 1)
    }

    @Test("a cancelled waiter frees its queue place and is skipped")
    func cancel() {
        var bulkhead = Self.full()
        let a = Self.ticket(bulkhead.tryEnter(now: .zero))!
        let b = Self.ticket(bulkhead.tryEnter(now: .zero))!
        #expect(bulkhead.cancel(a) && !bulkhead.cancel(a) && bulkhead.queueDepth == 1)
        let c = Self.ticket(bulkhead.tryEnter(now: .zero))
        #expect(c != nil)
        #expect(bulkhead.leave(now: .milliseconds(1)) == b && bulkhead.leave(now: .milliseconds(1)) == c)
        #expect(bulkhead.cancel(b) == false)
    }

    @Test("property: under random traffic the limits hold, places go in arrival order, nobody enters late",
          arguments: [21, 22] as [UInt64])
    func randomTraffic(seed: UInt64) {
        let config = Bulkhead.Configuration(maxConcurrent: 3, maxQueue: 5, maxWait: .nanoseconds(8))
        var bulkhead = Bulkhead(configuration: config)
        var random = FastRandom(seed: seed)
        var waiting: [Bulkhead.Ticket: Int64] = [:]  // ticket → arrival
        var inside = 0, t: Int64 = 0, admittedFromQueue = 0, expired = 0
        var lastAdmitted: UInt64?
        for _ in 0..<50_000 {
            t += Int64(random.next(below: 3))
            let now = Duration.nanoseconds(t)
            switch random.next(below: 10) {
            case 0..<4:
                switch bulkhead.tryEnter(now: now) {
                case .admitted: inside += 1
                case .queued(let ticket): waiting[ticket] = t
                case .rejected: #expect(inside == 3 && waiting.count == 5)
                }
            case 4..<8 where inside > 0:
                if let next = bulkhead.leave(now: now) {
                    let arrival = waiting.removeValue(forKey: next)
                    #expect(arrival.map { t - $0 < 8 } == true)
                    #expect(lastAdmitted.map { $0 < next.number } ?? true)
                    lastAdmitted = next.number
                    admittedFromQueue += 1
                } else {
                    inside -= 1
                    #expect(waiting.values.allSatisfy { t - $0 >= 8 })
                }
            case 8:
                for ticket in bulkhead.expire(now: now) {
                    #expect(waiting.removeValue(forKey: ticket).map { t - $0 >= 8 } == true)
                    expired += 1
                }
            default:
                if let ticket = waiting.keys.min(by: { $0.number < $1.number }), random.next(below: 2) == 0 {
                    #expect(bulkhead.cancel(ticket) == true)
                    waiting[ticket] = nil
                }
            }
            #expect(bulkhead.occupancy == inside && inside <= 3 && bulkhead.queueDepth == waiting.count)
        }
        #expect(admittedFromQueue > 100 && expired > 100)
    }
}
