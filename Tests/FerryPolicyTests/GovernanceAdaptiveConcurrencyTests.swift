import FerryPolicy
import Testing

/// A gradient controller with a manual clock. Requests go one after the other unless a test
/// drives `controller` itself.
struct AdaptiveBench {
    var controller: AdaptiveConcurrencyController
    var now: Duration = .seconds(1000)

    init(_ configure: (inout AdaptiveConcurrencyController.Configuration) -> Void = { _ in }) {
        var c = AdaptiveConcurrencyController.Configuration(concurrencyUpdateInterval: .milliseconds(100))
        c.minRTTRequestCount = 5
        c.jitterPercent = 0
        configure(&c)
        controller = AdaptiveConcurrencyController(configuration: c, now: now, random: FastRandom(seed: 3))
    }

    /// `count` requests in a row, each taking `rtt`.
    mutating func serve(_ count: Int, rtt: Duration) {
        for _ in 0..<count {
            #expect(controller.tryAcquire(now: now) == true)
            now += rtt
            controller.record(rtt: rtt, now: now)
        }
    }

    /// Ends the first minRTT window with samples of `rtt` (it started with the controller).
    mutating func measureMinRTT(_ rtt: Duration = .milliseconds(10)) {
        serve(controller.configuration.minRTTRequestCount, rtt: rtt)
    }

    /// Moves the clock to `at` and fires the timers due.
    mutating func tick(_ at: Duration) {
        now = at
        controller.tick(now: now)
    }

    var limit: Int { controller.concurrencyLimit }
}

@Suite("Adaptive concurrency gradient controller")
struct GovernanceAdaptiveConcurrencyTests {
    @Test("it starts by measuring minRTT with the limit pinned to min_concurrency")
    func initialMinRTTWindow() {
        var bench = AdaptiveBench()
        #expect(bench.controller.isMeasuringMinRTT && bench.limit == 3)
        #expect((0..<4).map { _ in bench.controller.tryAcquire(now: bench.now) } == [true, true, true, false])
        #expect(bench.controller.blockedCount == 1 && bench.controller.outstanding == 3)
        bench.now += .milliseconds(10)
        for _ in 0..<3 { bench.controller.record(rtt: .milliseconds(10), now: bench.now) }
        bench.serve(1, rtt: .milliseconds(10))
        #expect(bench.controller.isMeasuringMinRTT && bench.controller.minRTT == nil)
        bench.serve(1, rtt: .milliseconds(10))
        #expect(!bench.controller.isMeasuringMinRTT && bench.controller.minRTT == .milliseconds(10))
        #expect(bench.controller.nextMinRTTWindow == bench.now + .seconds(60) && bench.controller.outstanding == 0)
    }

    @Test("each update interval applies limit × gradient + √(limit × gradient), gradient clamped to [0.5, 2]")
    func gradientFormula() {
        var bench = AdaptiveBench()
        bench.measureMinRTT()
        let windowStart = bench.now
        bench.serve(5, rtt: .milliseconds(10))
        bench.tick(windowStart + .milliseconds(99))
        #expect(bench.limit == 3)
        bench.tick(windowStart + .milliseconds(100))
        // (10 ms × 1.25) / 10 ms = 1.25; 3 × 1.25 = 3.75; 3.75 + √3.75 = 5.69 → 5.
        #expect(bench.controller.gradient == 1.25 && bench.controller.burstHeadroom == (3.75).squareRoot())
        #expect(bench.limit == 5 && bench.controller.sampleRTT == .milliseconds(10))
        bench.serve(1, rtt: .milliseconds(50))
        bench.tick(windowStart + .milliseconds(200))
        // 12.5 / 50 = 0.25 → 0.5; 5 × 0.5 = 2.5; 2.5 + √2.5 = 4.08 → 4.
        #expect(bench.controller.gradient == 0.5 && bench.limit == 4)
        bench.serve(3, rtt: .milliseconds(1))
        bench.tick(windowStart + .milliseconds(300))
        // 12.5 / 1 → 2; 4 × 2 = 8; 8 + √8 = 10.83 → 10.
        #expect(bench.controller.gradient == 2 && bench.limit == 10)
        bench.tick(windowStart + .milliseconds(400))
        #expect(bench.limit == 10)  // a window without samples changes nothing
    }

    @Test("the limit stays within [min_concurrency, max_concurrency_limit]; the percentile is nearest-rank")
    func clampsAndPercentile() {
        var bench = AdaptiveBench {
            $0.maxConcurrencyLimit = 6
            $0.sampleAggregatePercentile = 90
            $0.minRTTRequestCount = 10
        }
        for ms in 1...10 { bench.serve(1, rtt: .milliseconds(ms)) }
        #expect(bench.controller.minRTT == .milliseconds(9))
        let windowStart = bench.now
        bench.serve(2, rtt: .microseconds(100))
        bench.tick(windowStart + .milliseconds(100))
        #expect(bench.limit == 6)  // 3 × 2 + √6 = 8.4, capped
        bench.serve(1, rtt: .seconds(1))
        bench.tick(bench.now + .milliseconds(100))
        bench.serve(1, rtt: .seconds(1))
        bench.tick(bench.now + .milliseconds(100))
        #expect(bench.limit == 3)  // 6 × 0.5 + √3 = 4.7 → 4, then 4 × 0.5 + √2 = 3.4 → 3
    }

    @Test("minRTT is measured again after interval + jitter, pinning the limit meanwhile; older requests do not count")
    func remeasure() {
        var bench = AdaptiveBench { $0.jitterPercent = 10 }
        bench.measureMinRTT()
        let due = bench.controller.nextMinRTTWindow!
        #expect(due >= bench.now + .seconds(60) && due < bench.now + .seconds(66))
        bench.serve(5, rtt: .milliseconds(10))
        bench.tick(bench.now + .milliseconds(100))
        #expect(bench.limit == 5)
        bench.tick(due - .milliseconds(5))
        #expect(bench.controller.tryAcquire(now: bench.now) == true)  // sent before the window
        bench.tick(due)
        #expect(bench.controller.isMeasuringMinRTT && bench.limit == 3)
        bench.now += .milliseconds(20)
        bench.controller.record(rtt: .milliseconds(25), now: bench.now)
        bench.serve(4, rtt: .milliseconds(20))
        #expect(bench.controller.isMeasuringMinRTT)
        bench.serve(1, rtt: .milliseconds(20))
        #expect(!bench.controller.isMeasuringMinRTT && bench.controller.minRTT == .milliseconds(20) && bench.limit == 5)
    }

    @Test("the fifth update in a row at the floor starts a new minRTT measurement at once")
    func floorTriggersMeasurement() {
        var bench = AdaptiveBench()
        bench.measureMinRTT()
        var windowStart = bench.now
        for update in 1...5 {
            #expect(!bench.controller.isMeasuringMinRTT)
            bench.serve(1, rtt: .milliseconds(50))  // 12.5 / 50 → 0.5: 3 × 0.5 + √1.5 = 2.7 → the floor, 3
            windowStart += .milliseconds(100)
            bench.tick(windowStart)
            #expect(bench.limit == 3 && bench.controller.isMeasuringMinRTT == (update == 5))
        }
    }

    @Test("with min_concurrency_limit, minRTT windows leave the limit alone and the floor is that limit")
    func separateFloor() {
        var bench = AdaptiveBench { $0.minConcurrencyLimit = 2 }
        bench.measureMinRTT()
        let windowStart = bench.now
        bench.serve(2, rtt: .milliseconds(45))
        bench.tick(windowStart + .milliseconds(100))
        #expect(bench.limit == 2)  // 12.5 / 45 → 0.5: 3 × 0.5 + √1.5 = 2.7 → 2
        bench.serve(2, rtt: .milliseconds(1))
        bench.tick(windowStart + .milliseconds(200))
        #expect(bench.limit == 6)  // 2 × 2 + √4
        bench.tick(bench.controller.nextMinRTTWindow!)
        #expect(bench.controller.isMeasuringMinRTT && bench.limit == 6)
    }
}
