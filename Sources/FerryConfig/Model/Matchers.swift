/// A regular expression compiled when the configuration is loaded (`safe_regex`).
///
/// Envoy uses RE2; Ferry uses Swift's `Regex`, which accepts the RE2 syntax that route configs
/// use (classes, groups, alternation, repetition, anchors). Matching follows Envoy: route and
/// header matchers must match the whole value.
public struct CompiledRegex: @unchecked Sendable, CustomStringConvertible {
    // Regex is immutable once built; it is only read after the config is published.
    public let pattern: String
    public let regex: Regex<AnyRegexOutput>

    /// Compiles an RE2 pattern; throws when RE2 would refuse it or Swift cannot compile it.
    public init(_ pattern: String) throws {
        self.pattern = pattern
        let translated: String
        do {
            translated = try RE2Syntax.translate(pattern)
        } catch {
            throw RegexSyntaxError(message: error.message)
        }
        self.regex = try Regex(translated)
    }

    public func wholeMatch(_ text: Substring) -> Bool { (try? regex.wholeMatch(in: text)) != nil }
    public func wholeMatch(_ text: String) -> Bool { (try? regex.wholeMatch(in: text)) != nil }
    public var description: String { pattern }

    /// Decodes an `envoy.type.matcher.v3.RegexMatcher` (`regex`, optional `google_re2`).
    static func decode(_ r: ObjectReader) -> CompiledRegex? {
        defer { r.finish() }
        _ = r.raw("google_re2")  // deprecated engine selector; RE2 syntax is the only one
        guard let pattern = r.requiredString("regex", fix: "add `regex: \"^/api/.*\"`") else { return nil }
        do {
            return try CompiledRegex(pattern)
        } catch {
            r.diagnostics.error(r.valueLocation(of: "regex"), r.join("regex"), "invalid regular expression: \(error)",
                                fix: "check brackets and escapes; in YAML, single-quote patterns containing backslashes")
            return nil
        }
    }
}

public struct RegexSyntaxError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// `envoy.type.matcher.v3.StringMatcher`.
public struct StringMatcher: Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case exact(String)
        case prefix(String)
        case suffix(String)
        case contains(String)
        case regex(CompiledRegex)
    }

    public var kind: Kind
    public var ignoreCase: Bool

    public init(_ kind: Kind, ignoreCase: Bool = false) {
        self.kind = kind
        self.ignoreCase = ignoreCase
        if ignoreCase { self.kind = Self.lowered(kind) }
    }

    private static func lowered(_ kind: Kind) -> Kind {
        switch kind {
        case .exact(let s): return .exact(s.lowercased())
        case .prefix(let s): return .prefix(s.lowercased())
        case .suffix(let s): return .suffix(s.lowercased())
        case .contains(let s): return .contains(s.lowercased())
        case .regex: return kind
        }
    }

    public func matches(_ value: String) -> Bool {
        if case .regex(let regex) = kind { return regex.wholeMatch(value) }
        let subject = ignoreCase ? value.lowercased() : value
        switch kind {
        case .exact(let s): return subject == s
        case .prefix(let s): return subject.hasPrefix(s)
        case .suffix(let s): return subject.hasSuffix(s)
        case .contains(let s): return s.isEmpty || subject.contains(s)
        case .regex: return false
        }
    }

    public var description: String {
        switch kind {
        case .exact(let s): return "exact \"\(s)\""
        case .prefix(let s): return "prefix \"\(s)\""
        case .suffix(let s): return "suffix \"\(s)\""
        case .contains(let s): return "contains \"\(s)\""
        case .regex(let r): return "regex \"\(r.pattern)\""
        }
    }

    static func decode(_ r: ObjectReader) -> StringMatcher? {
        defer { r.finish() }
        let ignoreCase = r.bool("ignore_case") ?? false
        switch r.oneOf(["exact", "prefix", "suffix", "contains", "safe_regex", "custom"], required: true, what: "match pattern") {
        case "exact": return StringMatcher(.exact(r.string("exact") ?? ""), ignoreCase: ignoreCase)
        case "prefix": return r.requiredString("prefix").map { StringMatcher(.prefix($0), ignoreCase: ignoreCase) }
        case "suffix": return r.requiredString("suffix").map { StringMatcher(.suffix($0), ignoreCase: ignoreCase) }
        case "contains": return r.requiredString("contains").map { StringMatcher(.contains($0), ignoreCase: ignoreCase) }
        case "safe_regex":
            if ignoreCase {
                r.diagnostics.error(r.location(of: "ignore_case"), r.join("ignore_case"),
                                    "ignore_case has no effect on safe_regex (as in Envoy)",
                                    fix: "remove ignore_case and write a case-insensitive pattern such as (?i)abc")
            }
            return r.object("safe_regex", "envoy.type.matcher.v3.RegexMatcher").flatMap(CompiledRegex.decode).map {
                StringMatcher(.regex($0))
            }
        default:
            return nil
        }
    }
}

/// `envoy.config.route.v3.HeaderMatcher`. Pseudo-headers (`:method`, `:path`, `:authority`,
/// `:scheme`) match the request line as Envoy presents it.
public struct HeaderMatcher: Sendable {
    public enum Rule: Sendable {
        case string(StringMatcher)
        case present(Bool)
        case range(start: Int64, end: Int64)
    }

    public var name: String
    public var rule: Rule
    public var invert: Bool
    public var treatMissingAsEmpty: Bool

    public init(name: String, rule: Rule, invert: Bool = false, treatMissingAsEmpty: Bool = false) {
        self.name = name.lowercased()
        self.rule = rule
        self.invert = invert
        self.treatMissingAsEmpty = treatMissingAsEmpty
    }

    /// `values` are all values of the header (nil when absent); several values are joined with
    /// "," before matching, as Envoy does.
    public func matches(_ values: String?) -> Bool {
        var result: Bool
        switch rule {
        case .present(let wanted):
            result = (values != nil) == wanted
        case .string(let matcher):
            if let values { result = matcher.matches(values) }
            else if treatMissingAsEmpty { result = matcher.matches("") }
            else { return false }  // Envoy: an absent header never matches a value rule, inverted or not
        case .range(let start, let end):
            guard values != nil || treatMissingAsEmpty else { return false }  // absent: as for string rules
            guard let values, let number = Int64(values) else { return invert }
            result = number >= start && number < end
        }
        return result != invert
    }

    static func decode(_ r: ObjectReader) -> HeaderMatcher? {
        defer { r.finish() }
        guard let name = r.requiredString("name", fix: "name the header, e.g. `name: x-canary`") else {
            r.skipRemaining()
            return nil
        }
        let invert = r.bool("invert_match") ?? false
        let missingAsEmpty = r.bool("treat_missing_header_as_empty") ?? false
        let specifier = r.oneOf(["exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match",
                                 "suffix_match", "contains_match", "string_match"], required: false, what: "header match")
        let rule: Rule
        switch specifier {
        case "exact_match": rule = .string(StringMatcher(.exact(r.string("exact_match") ?? "")))
        case "prefix_match": rule = .string(StringMatcher(.prefix(r.string("prefix_match") ?? "")))
        case "suffix_match": rule = .string(StringMatcher(.suffix(r.string("suffix_match") ?? "")))
        case "contains_match": rule = .string(StringMatcher(.contains(r.string("contains_match") ?? "")))
        case "safe_regex_match":
            guard let regex = r.object("safe_regex_match", "envoy.type.matcher.v3.RegexMatcher").flatMap(CompiledRegex.decode)
            else { return nil }
            rule = .string(StringMatcher(.regex(regex)))
        case "present_match": rule = .present(r.bool("present_match") ?? true)
        case "range_match":
            guard let range = r.object("range_match", "envoy.type.v3.Int64Range") else { return nil }
            let start = range.integer("start", in: Int64.min...Int64.max) ?? 0
            let end = range.integer("end", in: Int64.min...Int64.max) ?? 0
            range.finish()
            rule = .range(start: start, end: end)
        case "string_match":
            guard let matcher = r.object("string_match", "envoy.type.matcher.v3.StringMatcher").flatMap(StringMatcher.decode)
            else { return nil }
            rule = .string(matcher)
        default:
            // No specifier: Envoy treats this as "header is present".
            rule = .present(true)
        }
        return HeaderMatcher(name: name, rule: rule, invert: invert, treatMissingAsEmpty: missingAsEmpty)
    }
}

/// `envoy.config.route.v3.QueryParameterMatcher`.
public struct QueryParameterMatcher: Sendable {
    public var name: String
    /// nil means "present".
    public var matcher: StringMatcher?
    public var presentMatch: Bool

    public func matches(_ value: String?) -> Bool {
        guard let value else { return false }
        if let matcher { return matcher.matches(value) }
        return presentMatch
    }

    static func decode(_ r: ObjectReader) -> QueryParameterMatcher? {
        defer { r.finish() }
        guard let name = r.requiredString("name") else {
            r.skipRemaining()
            return nil
        }
        switch r.oneOf(["string_match", "present_match"], required: false, what: "query parameter match") {
        case "string_match":
            guard let m = r.object("string_match", "envoy.type.matcher.v3.StringMatcher").flatMap(StringMatcher.decode)
            else { return nil }
            return QueryParameterMatcher(name: name, matcher: m, presentMatch: true)
        case "present_match":
            return QueryParameterMatcher(name: name, matcher: nil, presentMatch: r.bool("present_match") ?? false)
        default:
            return QueryParameterMatcher(name: name, matcher: nil, presentMatch: true)
        }
    }
}
