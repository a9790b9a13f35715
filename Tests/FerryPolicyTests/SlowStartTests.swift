import FerryPolicy
import Testing

@Suite("SlowStart")
struct SlowStartTests {
    @Test("linear ramp with aggression 1: age / window, floored at min_weight_percent, 1 after the window")
    func linear() {
        let s = SlowStart(window: .seconds(60))
        #expect(s.factor(age: .zero) == 0.1)  // max(1 s, 0) / 60 = 0.017, floored at 10%
        #expect(abs(s.factor(age: .seconds(30)) - 0.5) < 1e-9)
        #expect(abs(s.factor(age: .seconds(54)) - 0.9) < 1e-9)
        #expect(s.factor(age: .seconds(60)) == 1)
        #expect(s.factor(age: .seconds(600)) == 1)
    }

    @Test("aggression 2 ramps faster early: (age/window)^(1/2)")
    func aggression() {
        let s = SlowStart(window: .seconds(100), aggression: 2, minWeightPercent: 0)
        #expect(abs(s.factor(age: .seconds(25)) - 0.5) < 1e-9)
        #expect(abs(s.factor(age: .seconds(1)) - 0.1) < 1e-9)
    }

    @Test("ages under one second count as one second, as Envoy's formula says")
    func minimumAge() {
        let s = SlowStart(window: .seconds(10), minWeightPercent: 0)
        #expect(abs(s.factor(age: .milliseconds(10)) - 0.1) < 1e-9)
    }
}
