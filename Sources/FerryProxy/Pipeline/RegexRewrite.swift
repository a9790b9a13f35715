import FerryConfig

/// RE2-style global replacement: every non-overlapping match of `regex` is replaced by
/// `substitution`, in which `\0`..`\9` refer to capture groups (Envoy's regex_rewrite).
enum RegexRewrite {
    static func replaceAll(_ regex: CompiledRegex, in text: String, with substitution: String) -> String {
        var result = ""
        var last = text.startIndex
        for match in text.matches(of: regex.regex) {
            result += text[last..<match.range.lowerBound]
            result += expand(substitution, match)
            last = match.range.upperBound
        }
        result += text[last...]
        return result
    }

    private static func expand(_ template: String, _ match: Regex<AnyRegexOutput>.Match) -> String {
        var out = ""
        var chars = template.makeIterator()
        while let c = chars.next() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let d = chars.next() else {
                out.append("\\")
                break
            }
            if let n = d.wholeNumberValue, n < match.output.count {
                if let range = match.output[n].range { out += match.output[n].substring.map(String.init) ?? String(describing: range) }
            } else if d == "\\" {
                out.append("\\")
            } else {
                out.append(d)
            }
        }
        return out
    }
}
