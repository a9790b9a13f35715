import FerryPolicy
import Testing

/// A breaker with a manual clock; `call` asks for a permission and records the outcome at once.
struct BreakerBench {
    var breaker: CircuitBreakerStateMachine
    var now: Duration = .seconds(1000)

    init(_ configure: (inout CircuitBreakerStateMachine.Configuration) -> Void) {
        var c = CircuitBreakerStateMachine.Configuration()
        c.slidingWindow = .countBased(calls: 10)
        c.minimumNumberOfCalls = 5
        c.waitDurationInOpenState = .seconds(10)
        c.permittedCallsInHalfOpenState = 3
        configure(&c)
        breaker = CircuitBreakerStateMachine(configuration: c, now: now)
    }

    /// False when the breaker refused the call.
    @discardableResult
    mutating func call(_ outcome: CircuitBreakerStateMachine.Outcome, times: Int = 1,
                       duration: Duration = .milliseconds(5)) -> Bool {
        for _ in 0..<times {
            guard let p = breaker.tryAcquire(now: now) else { return false }
            breaker.record(outcome, duration: duration, permission: p, now: now)
        }
        return true
    }

    /// Trips a breaker with the default bench settings.
    mutating func trip() {
        call(.failure, times: 5)
    }

    var state: CircuitBreakerStateMachine.State { breaker.state }
}

@Suite("Circuit breaker state machine")
struct GovernanceCircuitBreakerTests {
    @Test("opens at the failure-rate threshold, and only once minimumNumberOfCalls are in the window")
    func opensAtThreshold() {
        var bench = BreakerBench { _ in }
        bench.call(.failure, times: 2)
        bench.call(.success, times: 2)
        #expect(bench.state == .closed)  // 50 %, but 4 calls < 5
        bench.call(.success)
        #expect(bench.state == .closed && bench.breaker.counts(now: bench.now).failureRate == 40)
        bench.call(.failure)
        #expect(bench.state == .open)  // 3 of 6: 50 % ≥ 50 %
        #expect(bench.breaker.counts(now: bench.now) == CallCounts(calls: 6, failures: 3))
        #expect(bench.breaker.stats.openedCount == 1)
    }

    @Test("an open breaker refuses calls until the wait has passed, then lets probes through half-open")
    func openThenHalfOpen() {
        var bench = BreakerBench { _ in }
        bench.trip()
        bench.now += .milliseconds(9_999)
        #expect(!bench.call(.success) && bench.breaker.stats.notPermitted == 1)
        #expect(bench.breaker.retryAfter(now: bench.now) == .milliseconds(1))
        bench.now += .milliseconds(1)
        #expect(bench.breaker.state(now: bench.now) == .halfOpen && bench.breaker.stats.halfOpenedCount == 1)
        let probes = (0..<4).map { _ in bench.breaker.tryAcquire(now: bench.now) }
        #expect(probes.prefix(3).allSatisfy { $0?.state == .halfOpen } && probes[3] == nil)
        #expect(bench.breaker.probesLeft == 0 && bench.breaker.stats.notPermitted == 2)
    }

    @Test("good probes close the breaker with an empty window; the probes decide only once all are back")
    func goodProbesClose() {
        var bench = BreakerBench { _ in }
        bench.trip()
        bench.now += .seconds(10)
        let probes = (0..<3).compactMap { _ in bench.breaker.tryAcquire(now: bench.now) }
        bench.breaker.record(.failure, duration: .zero, permission: probes[0], now: bench.now)
        bench.breaker.record(.success, duration: .zero, permission: probes[1], now: bench.now)
        #expect(bench.state == .halfOpen && bench.breaker.counts(now: bench.now) == CallCounts(calls: 2, failures: 1))
        bench.breaker.record(.success, duration: .zero, permission: probes[2], now: bench.now)
        #expect(bench.state == .closed && bench.breaker.counts(now: bench.now) == .zero)
        #expect(bench.breaker.stats.closedCount == 1)
        bench.call(.failure, times: 4)
        #expect(bench.state == .closed)  // the old failures are gone: 4 calls are below the minimum
    }

    @Test("bad probes open the breaker again and the wait starts over")
    func badProbesReopen() {
        var bench = BreakerBench { _ in }
        bench.trip()
        bench.now += .seconds(15)
        bench.call(.failure, times: 2)
        bench.call(.success)
        #expect(bench.state == .open && bench.breaker.stats.openedCount == 2)
        bench.now += .milliseconds(9_999)
        #expect(bench.call(.success) == false)
        bench.now += .milliseconds(1)
        #expect(bench.call(.success) && bench.state == .halfOpen)
    }

    @Test("release gives a probe back; outcomes of calls permitted before a transition are ignored")
    func releaseAndStaleOutcomes() {
        var bench = BreakerBench { _ in }
        let early = bench.breaker.tryAcquire(now: bench.now)!
        bench.trip()
        bench.now += .seconds(10)
        let probe = bench.breaker.tryAcquire(now: bench.now)!
        bench.breaker.release(probe)
        #expect(bench.breaker.probesLeft == 3)
        bench.breaker.record(.failure, duration: .seconds(100), permission: early, now: bench.now)
        #expect(bench.breaker.stats.staleOutcomes == 1 && bench.breaker.counts(now: bench.now) == .zero)
        #expect(bench.call(.success, times: 3) && bench.state == .closed)
    }

    @Test("slow calls trip the breaker at the slow-call rate; a call at exactly the threshold is not slow")
    func slowCalls() {
        var bench = BreakerBench {
            $0.slowCallDurationThreshold = .seconds(1)
            $0.slowCallRateThreshold = 50
            $0.minimumNumberOfCalls = 4
        }
        bench.call(.success, times: 2, duration: .seconds(1))
        bench.call(.success, duration: .milliseconds(1_001))
        #expect(bench.state == .closed)
        bench.call(.failure, duration: .seconds(2))
        #expect(bench.state == .open)
        let counts = CallCounts(calls: 4, failures: 1, slowCalls: 2, slowFailures: 1)
        #expect(bench.breaker.counts(now: bench.now) == counts)
    }

    @Test("failureCountThreshold opens on that many failures, however few calls there were")
    func failureCount() {
        var bench = BreakerBench {
            $0.minimumNumberOfCalls = 100
            $0.failureCountThreshold = 3
        }
        bench.call(.success)
        bench.call(.failure, times: 2)
        #expect(bench.state == .closed)
        bench.call(.failure)
        #expect(bench.state == .open)  // 4 calls, far below the minimum of 10 (the count window's size)
    }

    @Test("a count window keeps the last N calls only")
    func countWindowSlides() {
        var bench = BreakerBench { $0.minimumNumberOfCalls = 10 }
        bench.call(.failure, times: 4)
        bench.call(.success, times: 10)
        #expect(bench.breaker.counts(now: bench.now) == CallCounts(calls: 10))
        bench.call(.failure, times: 4)
        #expect(bench.state == .closed)
        bench.call(.failure)  // 5 of the last 10
        #expect(bench.state == .open)
    }

    @Test("a time window forgets the calls of seconds that have left it")
    func timeWindowExpires() {
        var bench = BreakerBench {
            $0.slidingWindow = .timeBased(seconds: 10)
            $0.minimumNumberOfCalls = 4
        }
        bench.now = .milliseconds(1_000_500)  // second 1000
        bench.call(.failure, times: 3)
        bench.now = .milliseconds(1_009_900)  // second 1009: second 1000 still counts
        #expect(bench.breaker.counts(now: bench.now).failures == 3)
        bench.now = .seconds(1_010)  // second 1010: the window is 1001...1010
        #expect(bench.breaker.counts(now: bench.now) == .zero)
        bench.call(.success)
        bench.call(.failure, times: 2)
        #expect(bench.state == .closed)  // 2 of 3, below the minimum
        bench.now += .seconds(3)
        bench.call(.failure)
        #expect(bench.state == .open && bench.breaker.counts(now: bench.now) == CallCounts(calls: 4, failures: 3))
    }

    @Test("maxWaitDurationInHalfOpenState reopens a breaker whose probes do not all come back")
    func halfOpenTimeout() {
        var bench = BreakerBench { $0.maxWaitDurationInHalfOpenState = .seconds(5) }
        bench.trip()
        bench.now += .seconds(10)
        let probe = bench.breaker.tryAcquire(now: bench.now)!
        bench.now += .milliseconds(4_999)
        #expect(bench.breaker.state(now: bench.now) == .halfOpen)
        bench.now += .milliseconds(1)
        #expect(bench.breaker.state(now: bench.now) == .open && bench.breaker.stats.openedCount == 2)
        bench.breaker.record(.success, duration: .zero, permission: probe, now: bench.now)
        #expect(bench.state == .open && bench.breaker.stats.staleOutcomes == 1)
    }
}
