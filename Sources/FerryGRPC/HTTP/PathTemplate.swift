/// A compiled `google.api.http` path template (http.proto):
///
///     Template = "/" Segments [ Verb ] ;
///     Segments = Segment { "/" Segment } ;
///     Segment  = "*" | "**" | LITERAL | Variable ;
///     Variable = "{" FieldPath [ "=" Segments ] "}" ;
///     FieldPath = IDENT { "." IDENT } ;
///     Verb     = ":" LITERAL ;
///
/// `{name}` is `{name=*}`. `**` matches zero or more segments and must be the last segment.
public struct PathTemplate: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        /// `*`: exactly one segment.
        case wildcard
        /// `**`: the rest of the path, zero or more segments.
        case multiWildcard
    }

    /// A variable covering segments `start..<end` of `segments` (`end == segments.count`
    /// and a `**` last for a variable that takes the rest of the path).
    public struct Variable: Sendable, Equatable {
        public let fieldPath: [String]
        public let start: Int
        public let end: Int
    }

    public let text: String
    public let segments: [Segment]
    public let variables: [Variable]
    /// The custom verb after `:`, or nil.
    public let verb: String?

    public init(_ text: String) throws {
        var parser = Parser(chars: Array(text), text: text)
        try parser.parse()
        self.text = text
        self.segments = parser.segments
        self.variables = parser.variables
        self.verb = parser.verb
    }

    private struct Parser {
        let chars: [Character]
        let text: String
        var i = 0
        var segments: [Segment] = []
        var variables: [Variable] = []
        var verb: String?

        func error(_ what: String) -> TranscodingError {
            .invalidDescriptor("invalid path template \"\(text)\": \(what)")
        }

        mutating func parse() throws {
            guard chars.first == "/" else { throw error("it must start with '/'") }
            i = 1
            try parseSegments(inVariable: false)
            if i < chars.count, chars[i] == ":" {
                let v = String(chars[(i + 1)...])
                guard !v.isEmpty, !v.contains("/"), !v.contains("{"), !v.contains("}") else { throw error("invalid verb") }
                verb = v
                i = chars.count
            }
            guard i == chars.count else { throw error("unexpected '\(chars[i])' at offset \(i)") }
            if let last = segments.indices.last, segments[..<last].contains(.multiWildcard) {
                throw error("'**' must be the last segment")
            }
            var seen = Set<[String]>()
            for v in variables where !seen.insert(v.fieldPath).inserted {
                throw error("variable \(v.fieldPath.joined(separator: ".")) appears twice")
            }
        }

        mutating func parseSegments(inVariable: Bool) throws {
            while true {
                try parseSegment(inVariable: inVariable)
                guard i < chars.count, chars[i] == "/" else { return }
                i += 1
            }
        }

        mutating func parseSegment(inVariable: Bool) throws {
            guard i < chars.count else { throw error("empty segment at the end") }
            if chars[i] == "{" {
                guard !inVariable else { throw error("variables cannot nest") }
                try parseVariable()
                return
            }
            let start = i
            while i < chars.count, !"/{}=:".contains(chars[i]) { i += 1 }
            let literal = String(chars[start..<i])
            switch literal {
            case "": throw error("empty segment at offset \(start)")
            case "*": segments.append(.wildcard)
            case "**": segments.append(.multiWildcard)
            default:
                guard !literal.contains("*") else { throw error("'*' must be a whole segment") }
                segments.append(.literal(literal))
            }
        }

        mutating func parseVariable() throws {
            i += 1
            let start = i
            while i < chars.count, chars[i] != "=" && chars[i] != "}" { i += 1 }
            let path = String(chars[start..<i]).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.allSatisfy(isIdentifier) else {
                throw error("\"\(String(chars[start..<i]))\" is not a field path")
            }
            let first = segments.count
            if i < chars.count, chars[i] == "=" {
                i += 1
                try parseSegments(inVariable: true)
            } else {
                segments.append(.wildcard)
            }
            guard i < chars.count, chars[i] == "}" else { throw error("missing '}'") }
            i += 1
            variables.append(Variable(fieldPath: path, start: first, end: segments.count))
        }

        func isIdentifier(_ s: String) -> Bool {
            guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
                return false
            }
            return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        }
    }
}
