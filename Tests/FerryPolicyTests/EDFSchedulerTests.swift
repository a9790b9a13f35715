import FerryPolicy
import Testing

@Suite("EDFScheduler")
struct EDFSchedulerTests {
    private func picks(_ scheduler: inout EDFScheduler, _ count: Int) -> [Int] {
        (0..<count).map { _ in scheduler.pick() ?? -1 }
    }

    private func counts(_ picks: [Int], entries: Int) -> [Int] {
        (0..<entries).map { entry in picks.filter { $0 == entry }.count }
    }

    @Test("weights 5:1:1 over 7000 picks give exactly 5000, 1000 and 1000")
    func exactProportions() {
        var scheduler = EDFScheduler(weights: [5, 1, 1])
        let sequence = picks(&scheduler, 7000)
        #expect(counts(sequence, entries: 3) == [5000, 1000, 1000])
    }

    @Test("the heavy entry never gets more than ceil(w/W × 7) + 1 picks in any window of 7")
    func smoothInEveryWindow() {
        var scheduler = EDFScheduler(weights: [5, 1, 1])
        let sequence = picks(&scheduler, 7000)
        let window = 7
        let bound = Int((5.0 / 7.0 * Double(window)).rounded(.up)) + 1
        var worst = 0
        for start in 0...(sequence.count - window) {
            let heavy = sequence[start..<(start + window)].filter { $0 == 0 }.count
            worst = max(worst, heavy)
        }
        #expect(worst <= bound, "worst window had \(worst) picks of the heavy entry")
        // The light entries obey the same bound: at most ceil(1/7 × 7) + 1 = 2 picks per window.
        for start in 0...(sequence.count - window) {
            let slice = sequence[start..<(start + window)]
            #expect(slice.filter { $0 == 1 }.count <= 2 && slice.filter { $0 == 2 }.count <= 2)
        }
    }

    @Test("every full cycle of W picks holds exactly w picks of each entry")
    func exactPerCycle() {
        let weights: [Double] = [3, 1, 2]
        var scheduler = EDFScheduler(weights: weights)
        let sequence = picks(&scheduler, 6 * 500)
        for cycle in 0..<500 {
            let slice = Array(sequence[(cycle * 6)..<((cycle + 1) * 6)])
            #expect(counts(slice, entries: 3) == [3, 1, 2], "cycle \(cycle): \(slice)")
        }
    }

    @Test("entries with weight zero are never picked")
    func zeroWeightsSkipped() {
        var scheduler = EDFScheduler(weights: [0, 2, 0, 1])
        let sequence = picks(&scheduler, 300)
        #expect(counts(sequence, entries: 4) == [0, 200, 0, 100])
        #expect(!scheduler.isEmpty)
    }

    @Test("all-zero or no weights pick nothing")
    func allZeroPicksNil() {
        var zeros = EDFScheduler(weights: [0, 0, 0])
        #expect(zeros.isEmpty)
        #expect(zeros.pick() == nil)
        var none = EDFScheduler(weights: [])
        #expect(none.isEmpty)
        #expect(none.pick() == nil)
    }

    @Test("the offset changes which of several equal entries goes first")
    func offsetStaggersFirstPick() {
        for offset in 0..<3 {
            var scheduler = EDFScheduler(weights: [1, 1, 1], offset: offset)
            #expect(picks(&scheduler, 3) == [offset, (offset + 1) % 3, (offset + 2) % 3])
        }
        var wrapped = EDFScheduler(weights: [1, 1, 1], offset: 4)
        #expect(wrapped.pick() == 1)
    }

    @Test("the offset does not change the proportions")
    func offsetKeepsProportions() {
        for offset in 0..<3 {
            var scheduler = EDFScheduler(weights: [5, 1, 1], offset: offset)
            #expect(counts(picks(&scheduler, 700), entries: 3) == [500, 100, 100])
        }
    }

    @Test("fractional weights keep their ratio")
    func fractionalWeights() {
        var scheduler = EDFScheduler(weights: [0.5, 1.5])
        #expect(counts(picks(&scheduler, 4000), entries: 2) == [1000, 3000])
    }

    @Test("pick(nextWeight:) returning the configured weights picks exactly like pick()")
    func reweightWithSameWeights() {
        let weights: [Double] = [5, 1, 3, 2]
        var plain = EDFScheduler(weights: weights, offset: 1)
        var reweighted = EDFScheduler(weights: weights, offset: 1)
        let expected = picks(&plain, 1100)
        let actual = (0..<1100).map { _ in reweighted.pick { weights[$0] } ?? -1 }
        #expect(actual == expected)
    }

    @Test("a weight returned by pick(nextWeight:) applies from that entry's next deadline")
    func reweightTakesEffect() {
        var scheduler = EDFScheduler(weights: [1, 1])
        var current: [Double] = [1, 1]
        let before = (0..<100).map { _ in scheduler.pick { current[$0] } ?? -1 }
        #expect(counts(before, entries: 2) == [50, 50])
        current = [3, 1]
        let after = (0..<4000).map { _ in scheduler.pick { current[$0] } ?? -1 }
        // Entry 0's first pick after the change still carries its old deadline; from then on it is 3:1.
        #expect(abs(counts(after, entries: 2)[0] - 3000) <= 2, "\(counts(after, entries: 2))")
    }

    @Test("pick(nextWeight:) asks only about the entry it picked")
    func reweightAsksAboutPickedEntry() {
        var scheduler = EDFScheduler(weights: [2, 0, 1])
        for _ in 0..<30 {
            var asked: [Int] = []
            let picked = scheduler.pick { entry in
                asked.append(entry)
                return entry == 0 ? 2 : 1
            }
            #expect(asked == [picked ?? -1])
            #expect(picked != 1)
        }
        var empty = EDFScheduler(weights: [0])
        #expect(empty.pick { _ in 1 } == nil)
    }
}
