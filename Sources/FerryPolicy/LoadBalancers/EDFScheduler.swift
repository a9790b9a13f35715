/// Earliest-deadline-first scheduling over weighted entries: each pick returns the entry with
/// the smallest deadline and moves its deadline 1/weight later. Over any window, an entry with
/// weight w gets w/W of the picks, spread evenly (no bursts to the heavy entry). This is the
/// scheduler Envoy uses for weighted round robin and locality weights.
public struct EDFScheduler: Sendable {
    struct Item: Sendable {
        var deadline: Double
        var order: UInt64
        var index: Int
        var step: Double
    }

    private var heap: [Item] = []
    private var now: Double = 0
    private var sequence: UInt64 = 0

    /// `weights[i]` > 0 for entries that may be picked; zero weights are left out.
    /// `offset` staggers the first deadlines (each worker passes a different one) so that
    /// several schedulers with the same weights do not all pick the same entry first.
    public init(weights: [Double], offset: Int = 0) {
        let n = weights.count
        for k in 0..<n {
            let i = (k + offset) % max(n, 1)
            guard weights[i] > 0 else { continue }
            let step = 1 / weights[i]
            heap.append(Item(deadline: step, order: sequence, index: i, step: step))
            sequence += 1
        }
        heap.sort { Self.less($0, $1) }
    }

    public var isEmpty: Bool { heap.isEmpty }

    /// The next entry index, or nil when no entry has a positive weight.
    public mutating func pick() -> Int? {
        guard let top = heap.first else { return nil }
        return reinsertFirst(step: top.step)
    }

    /// Like `pick()`, but the picked entry goes back with the weight `nextWeight(index)` returns
    /// (which must be positive and finite), as in Envoy's `EdfScheduler::pickAndAdd`: a weight that
    /// changed since the entry's last pick takes effect from its next deadline. Least request uses
    /// this to scale weights by the active requests at pick time.
    public mutating func pick(nextWeight: (Int) -> Double) -> Int? {
        guard let top = heap.first else { return nil }
        let weight = nextWeight(top.index)
        precondition(weight > 0 && weight.isFinite, "EDF weights must be positive and finite")
        return reinsertFirst(step: 1 / weight)
    }

    private mutating func reinsertFirst(step: Double) -> Int {
        var top = heap[0]
        now = top.deadline
        top.step = step
        top.deadline = now + step
        top.order = sequence
        sequence += 1
        heap[0] = top
        siftDown(0)
        return top.index
    }

    static func less(_ a: Item, _ b: Item) -> Bool {
        a.deadline < b.deadline || (a.deadline == b.deadline && a.order < b.order)
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && Self.less(heap[l], heap[m]) { m = l }
            if r < n && Self.less(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
}
