/// One HTTP binding of a gRPC method: an HTTP method and path template, and where the request
/// body and the response body go. Built and checked once per config by `TranscoderConfig`.
public struct HTTPBinding: Sendable {
    public let method: MethodDescriptor
    /// `GET`, `POST`... or a custom pattern's kind.
    public let httpMethod: String
    public let template: PathTemplate
    /// "" (no body), "*" or a top-level field of the request message.
    public let body: String
    /// "" (the whole response) or a top-level field of the response message.
    public let responseBody: String
}

/// A request matched to a binding, with the path variables it captured (already
/// percent-decoded as the binding's `url_unescape_spec` says).
public struct HTTPMatch: Sendable {
    public let binding: HTTPBinding
    public let variables: [(fieldPath: [String], value: String)]
    /// Variables whose percent-decoded bytes are not UTF-8 (left out of `variables`);
    /// `requestMessage` refuses the request for them.
    public let malformedVariables: [String]
}

/// Finds the binding for an HTTP method and path. Among templates that match, the most
/// specific wins segment by segment (a literal over `*` over `**`), as in
/// grpc-httpjson-transcoding's trie; a custom verb is split off the last segment only when
/// some binding declares that verb.
struct PathMatcher: Sendable {
    let bindings: [HTTPBinding]
    let verbs: Set<String>
    let unescapeSpec: URLUnescapeSpec

    init(bindings: [HTTPBinding], unescapeSpec: URLUnescapeSpec) throws {
        var seen: [String: HTTPBinding] = [:]
        for b in bindings {
            let key = b.httpMethod + " " + Self.shape(b.template)
            if let other = seen[key] {
                throw TranscodingError.invalidDescriptor(
                    "\(b.httpMethod) \(b.template.text) of \(b.method.serviceName).\(b.method.name) is the same pattern as \(other.httpMethod) \(other.template.text) of \(other.method.serviceName).\(other.method.name)")
            }
            seen[key] = b
        }
        self.bindings = bindings
        self.verbs = Set(bindings.compactMap(\.template.verb))
        self.unescapeSpec = unescapeSpec
    }

    /// The template without variable names: two templates with the same shape match the same paths.
    private static func shape(_ t: PathTemplate) -> String {
        t.segments.map { s -> String in
            switch s {
            case .literal(let l): return "/" + l
            case .wildcard: return "/*"
            case .multiWildcard: return "/**"
            }
        }.joined() + (t.verb.map { ":" + $0 } ?? "")
    }

    func match(method: String, path: String) -> HTTPMatch? {
        var path = Substring(path)
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        guard path.first == "/" else { return nil }
        var parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        var verb: String?
        if let last = parts.last, let colon = last.lastIndex(of: ":") {
            let candidate = String(last[last.index(after: colon)...])
            if verbs.contains(candidate) {
                verb = candidate
                parts[parts.count - 1] = last[..<colon]
            }
        }
        // As grpc-httpjson-transcoding: trailing empty segments (a trailing "/") are dropped,
        // after the verb was looked for.
        while parts.last?.isEmpty == true { parts.removeLast() }
        var best: (rank: [Int], binding: HTTPBinding)?
        for b in bindings where b.httpMethod == method && b.template.verb == verb {
            guard let rank = Self.rank(b.template.segments, parts) else { continue }
            if best == nil || rank.lexicographicallyPrecedes(best!.rank) { best = (rank, b) }
        }
        guard let binding = best?.binding else { return nil }
        var captured: [(fieldPath: [String], value: String)] = []
        var malformed: [String] = []
        for (fieldPath, value) in variables(binding.template, parts) {
            if let value { captured.append((fieldPath, value)) } else { malformed.append(fieldPath.joined(separator: ".")) }
        }
        return HTTPMatch(binding: binding, variables: captured, malformedVariables: malformed)
    }

    /// Per segment 0 for a literal, 1 for `*`, 2 for `**`; nil when the template does not match.
    private static func rank(_ segments: [PathTemplate.Segment], _ parts: [Substring]) -> [Int]? {
        var rank: [Int] = []
        for (i, s) in segments.enumerated() {
            switch s {
            case .multiWildcard:
                rank.append(2)
                return rank
            case .wildcard:
                guard i < parts.count else { return nil }
                rank.append(1)
            case .literal(let l):
                guard i < parts.count, parts[i] == l else { return nil }
                rank.append(0)
            }
        }
        return parts.count == segments.count ? rank : nil
    }

    private func variables(_ t: PathTemplate, _ parts: [Substring]) -> [(fieldPath: [String], value: String?)] {
        t.variables.map { v in
            let takesRest = v.end == t.segments.count && t.segments.last == .multiWildcard
            let end = takesRest ? parts.count : v.end
            let slice = v.start < end ? parts[v.start..<end] : []
            // grpc-httpjson-transcoding: a multi-segment value keeps reserved characters encoded.
            let spec = (end - v.start > 1 || takesRest) ? unescapeSpec : .allCharacters
            let decoded = slice.map { URLUnescape.unescape($0, spec: spec) }
            return (v.fieldPath, decoded.contains(nil) ? nil : decoded.map { $0! }.joined(separator: "/"))
        }
    }
}
