/// Number conversions of the proto3 JSON mapping that must be exact: integers from JSON
/// number or string text (`"1e3"` and `1.0` are integers, `1.5` is not), and the shortest
/// round-trip text of floats and doubles in the layout of C's `%g` (as protobuf prints them).
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

    static func format(_ d: Double) -> String { layout(d.description, precision: 15, longPrecision: 17) }
    static func format(_ f: Float) -> String { layout(f.description, precision: 6, longPrecision: 9) }

    /// Lays Swift's shortest round-trip digits out as `%.{P}g` would: plain notation when the
    /// decimal exponent is in [-4, P), else `d.ddde±XX`.
    private static func layout(_ swiftText: String, precision: Int, longPrecision: Int) -> String {
        var text = Substring(swiftText)
        var sign = ""
        if text.first == "-" {
            sign = "-"
            text = text.dropFirst()
        }
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(intPart + fracPart)
        var pointExp = intPart.count + exponent  // value = 0.digits × 10^pointExp
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            pointExp -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        if digits == ["0"] { return sign + "0" }
        let exp10 = pointExp - 1  // scientific exponent
        let p = digits.count <= precision ? precision : longPrecision
        if exp10 < -4 || exp10 >= p {
            var s = sign + String(digits[0])
            if digits.count > 1 { s += "." + String(digits[1...]) }
            let absExp = abs(exp10)
            return s + (exp10 < 0 ? "e-" : "e+") + (absExp < 10 ? "0" : "") + String(absExp)
        }
        if exp10 < 0 { return sign + "0." + String(repeating: "0", count: -exp10 - 1) + String(digits) }
        if digits.count <= exp10 + 1 { return sign + String(digits) + String(repeating: "0", count: exp10 + 1 - digits.count) }
        return sign + String(digits[...exp10]) + "." + String(digits[(exp10 + 1)...])
    }
}
