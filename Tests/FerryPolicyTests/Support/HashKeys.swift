import FerryPolicy

/// Request keys for consistent-hashing tests, hashed the way Envoy's `hash_policy` hashes a header
/// value (xxHash64, seed 0).
enum HashKeys {
    static func hashes(_ count: Int, prefix: String = "user-") -> [UInt64] {
        (0..<count).map { XXHash64.hash("\(prefix)\($0)") }
    }

    /// `count` hashes spread evenly over the 64-bit space, as Envoy's ring hash tests use them.
    static func evenlySpaced(_ count: Int) -> [UInt64] {
        (0..<UInt64(count)).map { $0 * (UInt64.max / UInt64(count)) }
    }

    static func addresses(_ count: Int) -> [String] {
        (0..<count).map { "10.0.\($0 / 250).\($0 % 250 + 1):8080" }
    }

    /// How a host-set change moved keys: the share of all keys that changed address, and the share of
    /// keys that were on a surviving host and moved anyway.
    struct Movement {
        var moved = 0
        var total = 0
        var movedFromSurvivors = 0
        var onSurvivors = 0

        var movedShare: Double { Double(moved) / Double(total) }
        var survivorMovedShare: Double { Double(movedFromSurvivors) / Double(max(onSurvivors, 1)) }
    }

    /// Builds a balancer over `addresses` (through `balancer`, which returns its pick function) and
    /// again without `addresses[removed]`, and compares the address each key maps to.
    static func movementAfterRemoving(
        _ removed: Int,
        from addresses: [String],
        keys: [UInt64],
        balancer: ([String]) -> (UInt64) -> Int?
    ) -> Movement {
        var remaining = addresses
        remaining.remove(at: removed)
        let before = balancer(addresses)
        let after = balancer(remaining)
        var movement = Movement()
        for key in keys {
            let old = before(key).map { addresses[$0] }
            let new = after(key).map { remaining[$0] }
            movement.total += 1
            if old != new { movement.moved += 1 }
            if old != addresses[removed] {
                movement.onSurvivors += 1
                if old != new { movement.movedFromSurvivors += 1 }
            }
        }
        return movement
    }
}
