/// Envoy matches `safe_regex` with RE2; Ferry runs the pattern on Swift's `Regex`. This layer
/// makes the two agree on what a valid pattern is: RE2-only spellings are translated (`\pL` →
/// `\p{L}`) and what RE2 refuses is refused here too, with the reason, so a config that loads in
/// Ferry loads in Envoy and the other way round.
enum RE2Syntax {
    struct Rejection: Error {
        var message: String
    }

    /// The pattern in Swift `Regex` syntax, or a rejection naming the RE2 rule it breaks.
    static func translate(_ pattern: String) throws(Rejection) -> String {
        var out = ""
        var chars = Array(pattern)
        var i = 0
        var inClass = false
        func next(_ k: Int) -> Character? { i + k < chars.count ? chars[i + k] : nil }
        while i < chars.count {
            let c = chars[i]
            if c == "\\" {
                guard let e = next(1) else { throw Rejection(message: "trailing backslash") }
                switch e {
                case "p", "P":
                    // RE2 allows one-letter classes without braces: \pL, \PN.
                    if let l = next(2), l.isLetter, l != "{" {
                        out += "\\\(e){\(l)}"
                        i += 3
                        continue
                    }
                case "1", "2", "3", "4", "5", "6", "7", "8", "9":
                    if !inClass { throw Rejection(message: "backreferences (\\\(e)) are not supported by RE2") }
                case "k", "g":
                    throw Rejection(message: "backreferences (\\\(e)) are not supported by RE2")
                case "Z":
                    throw Rejection(message: "\\Z is not supported by RE2; use \\z or $")
                case "G", "R", "K", "X", "e", "h", "H", "N", "V":
                    throw Rejection(message: "\\\(e) is not supported by RE2")
                case "C":
                    // RE2's "any byte"; Ferry matches text, so any character is the closest meaning.
                    out += "."
                    i += 2
                    continue
                default:
                    break
                }
                out.append(c)
                out.append(e)
                i += 2
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
                if c == "[" && next(1) == ":" {
                    // POSIX class [:alpha:] inside a bracket expression.
                    if let end = (i + 2..<chars.count).first(where: { chars[$0] == "]" }) {
                        out += String(chars[i...end])
                        i = end + 1
                        continue
                    }
                }
                out.append(c)
                i += 1
                continue
            }
            switch c {
            case "[":
                inClass = true
                out.append(c)
                // A leading ']' or '^]' is literal inside the class.
                if next(1) == "^" { out.append("^"); i += 1 }
                if next(1) == "]" { out.append("]"); i += 1 }
                i += 1
                continue
            case "(":
                if next(1) == "?" {
                    let tag = next(2)
                    if tag == "=" || tag == "!" { throw Rejection(message: "lookahead ((?\(tag!)...)) is not supported by RE2") }
                    if tag == "<" && (next(3) == "=" || next(3) == "!") {
                        throw Rejection(message: "lookbehind is not supported by RE2")
                    }
                    if tag == ">" { throw Rejection(message: "atomic groups ((?>...)) are not supported by RE2") }
                    if tag == "(" { throw Rejection(message: "conditionals are not supported by RE2") }
                    if tag == "R" || tag?.isNumber == true { throw Rejection(message: "recursion is not supported by RE2") }
                }
            case "*", "+", "?":
                if next(1) == "+" { throw Rejection(message: "possessive quantifiers (\(c)+) are not supported by RE2") }
            case "{":
                if let close = (i + 1..<chars.count).first(where: { chars[$0] == "}" }) {
                    let body = String(chars[(i + 1)..<close])
                    let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                    if !body.isEmpty, parts.count <= 2, parts.allSatisfy({ $0.isEmpty || Int($0) != nil }), Int(parts[0]) != nil {
                        if parts.compactMap({ Int($0) }).contains(where: { $0 > 1000 }) {
                            throw Rejection(message: "repetition count over 1000 in {\(body)} (RE2's limit)")
                        }
                        if close + 1 < chars.count && chars[close + 1] == "+" {
                            throw Rejection(message: "possessive quantifiers are not supported by RE2")
                        }
                    }
                }
            default:
                break
            }
            out.append(c)
            i += 1
        }
        chars.removeAll()
        return out
    }
}
