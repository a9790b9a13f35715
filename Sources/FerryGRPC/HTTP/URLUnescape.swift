/// Which percent-encoded characters of a path variable that spans several segments are decoded:
/// Envoy's `url_unescape_spec`. Single-segment variables and query parameters are always fully
/// decoded.
public enum URLUnescapeSpec: Sendable, Equatable {
    /// Leave RFC 6570 reserved characters (`:/?#[]@!$&'()*+,;=`) encoded (Envoy's default).
    case allCharactersExceptReserved
    /// Decode everything but `%2F`.
    case allCharactersExceptSlash
    case allCharacters
}

enum URLUnescape {
    private static let reserved: Set<UInt8> = Set(":/?#[]@!$&'()*+,;=".utf8)

    /// Percent-decodes `text` as grpc-httpjson-transcoding does: a `%` not followed by two hex
    /// digits stays as it is; with `plusAsSpace`, `+` becomes a space. Nil when the decoded
    /// bytes are not UTF-8 (Envoy would forward them into a string field, which the upstream
    /// must then reject; Ferry answers 400 instead).
    static func unescape(_ text: Substring, spec: URLUnescapeSpec, plusAsSpace: Bool = false) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "%")) || (plusAsSpace && bytes.contains(UInt8(ascii: "+"))) else {
            return String(text)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if plusAsSpace && b == UInt8(ascii: "+") {
                out.append(0x20)
                i += 1
                continue
            }
            if b == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) {
                let decoded = hi << 4 | lo
                if keep(decoded, spec: spec) {
                    out.append(b)
                    i += 1
                    continue
                }
                out.append(decoded)
                i += 3
                continue
            }
            out.append(b)
            i += 1
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func keep(_ decoded: UInt8, spec: URLUnescapeSpec) -> Bool {
        switch spec {
        case .allCharactersExceptReserved: return reserved.contains(decoded)
        case .allCharactersExceptSlash: return decoded == UInt8(ascii: "/")
        case .allCharacters: return false
        }
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Splits a query string into decoded (name, value) pairs; a part that does not decode to
    /// UTF-8 is nil. As Envoy, a parameter without `=` or with an empty name is ignored.
    static func queryParameters(_ query: Substring, plusAsSpace: Bool) -> [(name: String?, value: String?)] {
        var out: [(name: String?, value: String?)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            guard let eq = part.firstIndex(of: "="), eq != part.startIndex else { continue }
            let name = unescape(part[..<eq], spec: .allCharacters)
            let value = unescape(part[part.index(after: eq)...], spec: .allCharacters, plusAsSpace: plusAsSpace)
            out.append((name, value))
        }
        return out
    }
}
