import NIOCore

/// The `grpc-timeout` request header (gRPC over HTTP/2: `TimeoutValue TimeoutUnit`, at most
/// 8 digits and one of `H M S m u n`), read as Envoy's `Grpc::Common::getGrpcTimeout` does:
/// anything malformed is ignored (nil), and micro- and nanoseconds round up to whole
/// milliseconds.
enum GRPCTimeout {
    static let maxValue: Int64 = 99_999_999

    static func parse(_ text: String) -> TimeAmount? {
        var utf8 = Substring(text).utf8
        guard let unit = utf8.last else { return nil }
        utf8 = utf8.dropLast()
        guard let value = integer(utf8), value >= 0, value <= maxValue else { return nil }
        switch unit {
        case UInt8(ascii: "H"): return .hours(value)
        case UInt8(ascii: "M"): return .minutes(value)
        case UInt8(ascii: "S"): return .seconds(value)
        case UInt8(ascii: "m"): return .milliseconds(value)
        case UInt8(ascii: "u"): return .milliseconds((value + 999) / 1000)
        case UInt8(ascii: "n"): return .milliseconds((value + 999_999) / 1_000_000)
        default: return nil
        }
    }

    /// absl's `SimpleAtoi`: surrounding ASCII whitespace and one sign allowed, digits only.
    private static func integer(_ bytes: Substring.UTF8View) -> Int64? {
        var bytes = bytes
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        while let first = bytes.first, isSpace(first) { bytes = bytes.dropFirst() }
        while let last = bytes.last, isSpace(last) { bytes = bytes.dropLast() }
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        guard !bytes.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return negative ? -value : value
    }
}
