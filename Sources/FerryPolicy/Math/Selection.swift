/// The `k`-th smallest of `values` (0-based), rearranging them: quickselect with a
/// median-of-three pivot, O(n) on average instead of sorting the whole array. After a run of
/// unlucky pivots it sorts instead, so the worst case stays O(n log n).
public func selectKthSmallest(_ values: inout [Int64], _ k: Int) -> Int64 {
    precondition(k >= 0 && k < values.count, "k out of range")
    var lo = 0, hi = values.count - 1
    var rounds = 0
    while lo < hi {
        rounds += 1
        if rounds > 64 {
            values[lo...hi].sort()
            return values[k]
        }
        let a = values[lo], b = values[lo + (hi - lo) / 2], c = values[hi]
        let pivot = max(min(a, b), min(max(a, b), c))
        var i = lo, j = hi
        while i <= j {
            while values[i] < pivot { i += 1 }
            while values[j] > pivot { j -= 1 }
            if i <= j {
                values.swapAt(i, j)
                i += 1
                j -= 1
            }
        }
        // [lo, j] ≤ pivot, [i, hi] ≥ pivot, and anything between equals the pivot.
        if k <= j {
            hi = j
        } else if k >= i {
            lo = i
        } else {
            return values[k]
        }
    }
    return values[k]
}
