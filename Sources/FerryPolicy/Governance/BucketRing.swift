/// A fixed number of consecutive buckets, indexed by an ever-growing `Int64` (a time bucket or a
/// call's sequence number), that ends at `newest`, with the running sum of what they hold.
/// Moving `newest` forward empties the buckets that fall out; their content leaves the sum.
///
/// Storage is allocated once; `advance` costs one step per bucket it skips, at most `count`.
struct BucketRing<Bucket: AdditiveArithmetic> {
    private var buckets: [Bucket]
    /// The index of the newest bucket; the ring covers `oldest...newest`.
    private(set) var newest: Int64
    /// The sum of all buckets.
    private(set) var total: Bucket = .zero

    init(count: Int, newest: Int64) {
        precondition(count > 0)
        buckets = Array(repeating: .zero, count: count)
        self.newest = newest
    }

    var count: Int { buckets.count }
    var oldest: Int64 { newest - Int64(buckets.count) + 1 }

    /// Makes `index` the newest bucket (a smaller index changes nothing).
    mutating func advance(to index: Int64) {
        guard index > newest else { return }
        if index - newest >= Int64(buckets.count) {
            clear(newest: index)
            return
        }
        var i = newest + 1
        while i <= index {
            let s = slot(i)
            total -= buckets[s]
            buckets[s] = .zero
            i += 1
        }
        newest = index
    }

    mutating func addToNewest(_ value: Bucket) {
        buckets[slot(newest)] += value
        total += value
    }

    /// The bucket with `index`, in `oldest...newest`.
    subscript(index: Int64) -> Bucket { buckets[slot(index)] }

    mutating func clear(newest: Int64) {
        for i in buckets.indices { buckets[i] = .zero }
        total = .zero
        self.newest = newest
    }

    private func slot(_ index: Int64) -> Int {
        let n = Int64(buckets.count)
        let r = index % n
        return Int(r < 0 ? r + n : r)
    }
}

extension BucketRing: Sendable where Bucket: Sendable {}
