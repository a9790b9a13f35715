import FerryConfig

/// Envoy's request path normalization, applied before routing so routes and upstreams see the
/// same path: RFC 3986 dot-segment removal with percent-decoding of unreserved characters
/// (`normalize_path`), collapsing repeated slashes (`merge_slashes`) and the handling of
/// encoded slashes `%2F` / `%5C` (`path_with_escaped_slashes_action`). The query is untouched.
enum PathNormalizer {
    enum Outcome: Equatable {
        case unchanged
        case rewritten(String)
        /// Redirect the client to this path (UNESCAPE_AND_REDIRECT).
        case redirect(String)
        case reject
    }

    static func apply(_ path: String, normalize: Bool, mergeSlashes: Bool,
                      escapedSlashes: HttpConnectionManager.EscapedSlashesAction) -> Outcome {
        guard path.hasPrefix("/") else { return .unchanged }
        var pathPart = Substring(path)
        var query: Substring = ""
        if let q = path.firstIndex(of: "?") {
            pathPart = path[..<q]
            query = path[q...]
        }
        var current = String(pathPart)
        var redirect = false
        switch escapedSlashes {
        case .rejectRequest:
            if containsEscapedSlash(current) { return .reject }
        case .unescapeAndRedirect:
            if containsEscapedSlash(current) {
                current = unescapeSlashes(current)
                redirect = true
            }
        case .unescapeAndForward:
            current = unescapeSlashes(current)
        case .keepUnchanged, .implementationSpecificDefault:
            break
        }
        if normalize {
            guard let normalized = normalizeRFC3986(current) else { return .reject }
            current = normalized
        }
        if mergeSlashes { current = collapseSlashes(current) }
        let result = current + query
        if redirect { return .redirect(result) }
        return result == path ? .unchanged : .rewritten(result)
    }

    static func containsEscapedSlash(_ s: String) -> Bool {
        let lower = s.lowercased()
        return lower.contains("%2f") || lower.contains("%5c")
    }

    static func unescapeSlashes(_ s: String) -> String {
        var out = ""
        var chars = Substring(s)
        while let i = chars.firstIndex(of: "%") {
            out += chars[..<i]
            let rest = chars[i...]
            let code = rest.dropFirst().prefix(2).lowercased()
            if code == "2f" { out += "/"; chars = rest.dropFirst(3) } else if code == "5c" { out += "\\"; chars = rest.dropFirst(3) } else {
                out += "%"
                chars = rest.dropFirst()
            }
        }
        return out + chars
    }

    static func collapseSlashes(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        var previousSlash = false
        for ch in s {
            if ch == "/" {
                if previousSlash { continue }
                previousSlash = true
            } else {
                previousSlash = false
            }
            out.append(ch)
        }
        return out
    }

    /// Envoy's `canonicalPath`: a segment of literal dots carrying parameters (`..;x`, `.;x`)
    /// counts as a dot segment; `%XX` of unreserved characters is decoded and other escapes are
    /// kept exactly as sent; a `%` that starts no valid escape is copied through; `\` becomes `/`;
    /// then `.` / `..` segments are removed. nil when the path holds `%00`.
    static func normalizeRFC3986(_ path: String) -> String? {
        let bytes = stripDotSegmentParameters(Array(path.utf8))
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                let v = UInt8(h << 4 | l)
                if v == 0 { return nil }
                if isUnreserved(v) {
                    decoded.append(v)
                } else {
                    decoded.append(contentsOf: bytes[i..<i + 3])
                }
                i += 3
                continue
            }
            decoded.append(b == UInt8(ascii: "\\") ? UInt8(ascii: "/") : b)
            i += 1
        }
        let text = String(decoding: decoded, as: UTF8.self)
        var output: [Substring] = []
        let segments = text.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var trailingSlash = false
        for (index, segment) in segments.enumerated() {
            let last = index == segments.count - 1
            switch segment {
            case ".":
                trailingSlash = last
            case "..":
                if !output.isEmpty { output.removeLast() }
                trailingSlash = last
            default:
                output.append(segment)
                trailingSlash = false
            }
        }
        var result = "/" + output.joined(separator: "/")
        if trailingSlash && !result.hasSuffix("/") { result += "/" }
        return result
    }

    /// Cuts `;params` off `/`-separated segments that are one or two literal dots followed by
    /// `;`, so `/public/..;/admin` cannot slip a `..` past routing (servlet containers treat it
    /// as `..`). Escaped dots (`%2e;`) and backslash-separated segments are left, as in Envoy.
    static func stripDotSegmentParameters(_ bytes: [UInt8]) -> [UInt8] {
        let dot = UInt8(ascii: "."), semicolon = UInt8(ascii: ";"), slash = UInt8(ascii: "/")
        guard bytes.contains(semicolon) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let segmentEnd = bytes[i...].firstIndex(of: slash) ?? bytes.count
            let segment = bytes[i..<segmentEnd]
            let dots = segment.prefix { $0 == dot }.count
            if (dots == 1 || dots == 2), segment.count > dots, segment[i + dots] == semicolon {
                out.append(contentsOf: segment.prefix(dots))
            } else {
                out.append(contentsOf: segment)
            }
            if segmentEnd < bytes.count { out.append(slash) }
            i = segmentEnd + 1
        }
        return out
    }

    private static func hex(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
    }
}
