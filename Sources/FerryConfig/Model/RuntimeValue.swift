/// How Envoy reads a runtime value's text (`SnapshotImpl::resolveEntryType`), for the layers
/// whose values are plain strings (disk files, `/runtime_modify`).
public enum RuntimeValue {
    /// Envoy's `getInteger`: the text as a non-negative number, truncated (Envoy parses a double,
    /// so `2.9` is 2); nil for anything else (`true`, `-1`, `abc`), where the default applies.
    public static func integer(_ text: String) -> UInt64? {
        let trimmed = trim(text)
        if let whole = UInt64(trimmed) { return whole }
        guard let number = Double(trimmed), number >= 0, number < 18_446_744_073_709_551_616.0 else { return nil }
        return UInt64(number)
    }

    /// A `FractionalPercent` written as YAML: a flow mapping (`{numerator: 5, denominator:
    /// TEN_THOUSAND}`) or `key: value` lines, with only those two keys (an absent one is 0 and
    /// HUNDRED, as in the proto). Nil when the text is not such a mapping.
    static func fractionalPercentYAML(_ text: String) -> FractionalPercent? {
        var body = Substring(trim(text))
        let flow = body.hasPrefix("{")
        if flow {
            guard body.hasSuffix("}") else { return nil }
            body = body.dropFirst().dropLast()
        } else if !body.contains(":") {
            return nil
        }
        var percent = FractionalPercent(numerator: 0)
        let entries = flow ? body.split(separator: ",") : body.split(whereSeparator: \.isNewline)
        for entry in entries where !trim(entry).isEmpty {
            guard let colon = entry.firstIndex(of: ":") else { return nil }
            let key = unquote(entry[..<colon])
            let value = unquote(entry[entry.index(after: colon)...])
            switch key {
            case "numerator":
                guard let n = UInt32(value) else { return nil }
                percent.numerator = n
            case "denominator":
                guard let d = FractionalPercent.Denominator(rawValue: value)
                        ?? Int(value).flatMap({ n in FractionalPercent.Denominator.allCases.first { $0.protoNumber == n } })
                else { return nil }
                percent.denominator = d
            default:
                return nil
            }
        }
        return percent
    }

    private static func unquote(_ text: Substring) -> String {
        var value = trim(text)
        if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
            value = String(value.dropFirst().dropLast())
        }
        return value
    }

    /// Without leading and trailing spaces, tabs and line breaks (Envoy strips ASCII whitespace).
    static func trim<S: StringProtocol>(_ text: S) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0.isNewline }
        guard let start = text.firstIndex(where: { !isSpace($0) }), let end = text.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(text[start...end])
    }
}
