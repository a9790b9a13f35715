extension IPAddressBytes {
    /// The address with all but its first `length` bits cleared (`10.1.2.3` to 16 → `10.1.0.0`).
    public func masked(to length: Int) -> IPAddressBytes {
        var remaining = max(0, length)
        return IPAddressBytes(bytes: bytes.map { byte in
            let bits = min(remaining, 8)
            remaining -= bits
            return byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        })
    }

    /// The address as `inet_ntop` writes it (and so Envoy): a dotted quad, or lower-case IPv6
    /// groups with the longest run of two or more zero groups (the first, on a tie) as `::` and
    /// an IPv4-mapped address with its dotted tail.
    public var text: String {
        if isV4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xFFFF {
            return "::ffff:" + bytes[12...].map(String.init).joined(separator: ".")
        }
        var best = (start: -1, count: 0), run = (start: -1, count: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.count + 1)
                if run.count > best.count { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.count >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":"), tail = hex[(best.start + best.count)...].joined(separator: ":")
        return head + "::" + tail
    }
}
