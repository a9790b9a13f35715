#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Number conversions of the proto3 JSON mapping that must be exact: integers from JSON
/// number or string text (`"1e3"` and `1.0` are integers, `1.5` is not), and the shortest
/// text of floats and doubles as protobuf's C++ printer writes them (C's `%g`).
enum NumberText {
    /// Parses an integer written as a JSON number (optionally with fraction and exponent).
    /// Returns nil when the text is not a number, not integral or out of `Int64`/`UInt64`
    /// range (sign tells which: `negative` with the magnitude).
    static func integer(_ text: String) -> (negative: Bool, magnitude: UInt64)? {
        var chars = Substring(text)
        var negative = false
        if chars.first == "-" {
            negative = true
            chars = chars.dropFirst()
        }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var exponent = 0
        var seenDot = false
        var i = chars.startIndex
        while i < chars.endIndex, chars[i] != "e" && chars[i] != "E" {
            let c = chars[i]
            if c == "." {
                guard !seenDot else { return nil }
                seenDot = true
            } else if let d = c.wholeNumberValue, c.isASCII {
                digits.append(UInt8(d))
                if seenDot { fractionDigits += 1 }
            } else {
                return nil
            }
            i = chars.index(after: i)
        }
        guard !digits.isEmpty else { return nil }
        if i < chars.endIndex {
            guard let e = Int(chars[chars.index(after: i)...]), abs(e) < 10_000 else { return nil }
            exponent = e
        }
        let scale = exponent - fractionDigits
        if scale < 0 {
            // The digits dropped must all be zeros.
            let drop = -scale
            if drop >= digits.count {
                guard digits.allSatisfy({ $0 == 0 }) else { return nil }
                digits = [0]
            } else {
                guard digits.suffix(drop).allSatisfy({ $0 == 0 }) else { return nil }
                digits.removeLast(drop)
            }
        }
        var value: UInt64 = 0
        for d in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            value = a
        }
        if scale > 0 && value != 0 {
            for _ in 0..<scale {
                let (m, o) = value.multipliedReportingOverflow(by: 10)
                guard !o else { return nil }
                value = m
            }
        }
        return (negative, value)
    }

    static func int64(_ text: String) -> Int64? {
        guard let (negative, magnitude) = integer(text) else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    static func uint64(_ text: String) -> UInt64? {
        guard let (negative, magnitude) = integer(text) else { return nil }
        guard !negative || magnitude == 0 else { return nil }
        return magnitude
    }

    /// Double from JSON number text or a numeric string ("NaN", "Infinity", "-Infinity" too).
    static func double(_ text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            // Only JSON's number grammar; Double("inf"), "0x1p3" or " 1" must not pass.
            guard let first = text.utf8.first, first == UInt8(ascii: "-") || (first >= 48 && first <= 57),
                  text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 43 || $0 == 46 || $0 == 101 || $0 == 69 }),
                  let d = Double(text), d.isFinite else { return nil }
            return d
        }
    }

    /// A double as protobuf's C++ printer writes it (Envoy's output): `%.15g`, or `%.17g` when
    /// 15 digits do not round-trip.
    static func format(_ d: Double) -> String {
        let short = printf(d, precision: 15)
        return Double(short) == d ? short : printf(d, precision: 17)
    }

    /// A float as protobuf's C++ printer writes it: `%.6g`, or `%.9g` when 6 digits do not
    /// round-trip.
    static func format(_ f: Float) -> String {
        let short = printf(Double(f), precision: 6)
        return Float(short) == f ? short : printf(Double(f), precision: 9)
    }

    private static func printf(_ value: Double, precision: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 48)
        let count = withVaList([value]) { args in
            vsnprintf(&buffer, buffer.count, "%.\(precision)g", args)
        }
        return String(decoding: buffer.prefix(Int(max(0, count))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
