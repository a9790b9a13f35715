import Testing

@testable import FerryPolicy

@Suite("Duration to whole nanoseconds")
struct DurationNanosecondsTests {
    @Test("the fast path agrees with 128-bit division, truncating towards zero")
    func agreesWithDivision() {
        var random = FastRandom(seed: 7)
        var cases: [Duration] = [.zero, .nanoseconds(1), .nanoseconds(-1), .seconds(1), .seconds(-3),
                                 .nanoseconds(Int64.max), .nanoseconds(Int64.min),
                                 Duration(secondsComponent: 0, attosecondsComponent: 999_999_999),
                                 Duration(secondsComponent: -1, attosecondsComponent: 1),
                                 Duration(secondsComponent: 18_446_744_073, attosecondsComponent: 709_551_615_999_999_999)]
        for _ in 0..<1000 {
            cases.append(Duration(secondsComponent: Int64(random.next() >> 30), attosecondsComponent: Int64(random.next() % 1_000_000_000_000_000_000)))
        }
        for d in cases {
            #expect(d.wholeNanoseconds == Int64(truncatingIfNeeded: d.attoseconds / 1_000_000_000), "\(d)")
        }
    }
}
