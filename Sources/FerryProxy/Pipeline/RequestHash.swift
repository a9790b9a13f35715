import FerryConfig
import FerryPolicy

/// The route's `hash_policy` for ring hash and Maglev, as Envoy computes it: each policy that
/// finds its input hashes it with xxHash64; the hashes combine as `rotl(hash, 1) ^ next`; a
/// `terminal` policy that produced a hash ends the list. No hash at all means the balancer
/// picks at random.
enum RequestHash {
    /// A cookie policy with a `ttl` whose cookie was absent: Ferry made one up, hashed it, and
    /// sets it on the response so the client's next requests hash the same way.
    struct NewCookie {
        var name: String
        var value: String
        var ttl: Duration
        var path: String?

        /// Envoy's form: `name="value"; Max-Age=N; Path=p; HttpOnly`.
        var setCookieValue: String {
            var text = "\(name)=\"\(value)\"; Max-Age=\(ttl.components.seconds)"
            if let path, !path.isEmpty { text += "; Path=\(path)" }
            return text + "; HttpOnly"
        }
    }

    static func compute(_ policies: [HashPolicy], request: RequestHead, sourceIP: String?,
                        newCookie: inout NewCookie?) -> UInt64? {
        var hash: UInt64?
        for policy in policies {
            if let next = evaluate(policy.source, request: request, sourceIP: sourceIP, newCookie: &newCookie) {
                let rotated = hash.map { ($0 << 1) | ($0 >> 63) } ?? 0
                hash = rotated ^ next
            }
            if policy.terminal && hash != nil { break }
        }
        return hash
    }

    private static func evaluate(_ source: HashPolicy.Source, request: RequestHead, sourceIP: String?,
                                 newCookie: inout NewCookie?) -> UInt64? {
        switch source {
        case .header(let name, let rewrite):
            var values = name == ":authority" || name == "host" ? request.authority.map { [$0] } ?? [] : request.headers.values(name)
            if name == ":path" { values = [request.path] }
            if name == ":method" { values = [request.method] }
            guard !values.isEmpty else { return nil }
            if let rewrite { values = values.map { RegexRewrite.replaceAll(rewrite.0, in: $0, with: rewrite.1) } }
            // Several values: sorted and hashed as one stream, as Envoy hashes the list.
            return XXHash64.hash(values.count == 1 ? values[0] : values.sorted().joined())
        case .cookie(let name, let ttl, let path):
            if let value = cookie(name, in: request.headers) { return XXHash64.hash(value) }
            guard let ttl else { return nil }
            let value = hex(XXHash64.hash(sourceIP ?? "") ^ XXHash64.hash(request.path))
            newCookie = NewCookie(name: name, value: value, ttl: ttl, path: path)
            return XXHash64.hash(value)
        case .sourceIP:
            return sourceIP.map { XXHash64.hash($0) }
        case .queryParameter(let name):
            for (key, value) in QueryString.parse(request.query) where key == name { return XXHash64.hash(String(value)) }
            return nil
        }
    }

    /// The value of cookie `name` from the request's `cookie` fields.
    static func cookie(_ name: String, in headers: HeaderMap) -> String? {
        for field in headers.values("cookie") {
            for pair in field.split(separator: ";") {
                let trimmed = pair.trimmingSpaces()
                guard let eq = trimmed.firstIndex(of: "="), trimmed[..<eq] == name else { continue }
                var value = trimmed[trimmed.index(after: eq)...]
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                return String(value)
            }
        }
        return nil
    }

    private static func hex(_ v: UInt64) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
