import Testing

@testable import FerryPolicy

@Suite("k-th smallest by quickselect")
struct SelectionTests {
    @Test("every rank of random, sorted, reversed and duplicate-heavy arrays matches sorting")
    func matchesSorting() {
        var random = FastRandom(seed: 42)
        var inputs: [[Int64]] = [[7], [2, 1], [5, 5, 5, 5], Array(0..<200), Array((0..<200).reversed())]
        for size in [3, 10, 101, 1000] {
            inputs.append((0..<size).map { _ in Int64(random.next() % 1_000_000) })
            inputs.append((0..<size).map { _ in Int64(random.next() % 4) })  // many equal values
        }
        for input in inputs {
            let sorted = input.sorted()
            for k in Set([0, input.count / 2, input.count * 9 / 10, input.count - 1]) {
                var values = input
                #expect(selectKthSmallest(&values, k) == sorted[k], "k=\(k) of \(input.count)")
                #expect(values.sorted() == sorted, "the values are only rearranged")
            }
        }
    }
}
