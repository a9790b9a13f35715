/// Parses one complete HTTP/1 head (start line, fields, blank line) from raw bytes.
struct HeadParser {
    let bytes: UnsafeRawBufferPointer
    let limits: HTTP1Parser.Limits
    private var position = 0

    init(bytes: UnsafeRawBufferPointer, limits: HTTP1Parser.Limits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Token characters of RFC 9110 §5.6.2 (a switch, not a global table: a lazily initialised
    /// global costs a once-check per byte).
    @inline(__always) static func isToken(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }

    /// Field value bytes: HTAB, SP, VCHAR and obs-text.
    @inline(__always) static func isFieldValueByte(_ b: UInt8) -> Bool { b == 0x09 || (b >= 0x20 && b != 0x7F) }

    /// The next line without its terminator; a CR anywhere but before the LF is an error.
    private mutating func nextLine() throws(HTTP1ParseError) -> Range<Int>? {
        guard position < bytes.count else { return nil }
        var i = position
        while i < bytes.count && bytes[i] != 0x0A { i += 1 }
        guard i < bytes.count else { throw .bad("missing_line_terminator") }
        var end = i
        if end > position && bytes[end - 1] == 0x0D { end -= 1 }
        let line = position..<end
        position = i + 1
        for j in line where bytes[j] == 0x0D { throw .bad("invalid_characters") }
        return line
    }

    mutating func parse(role: HTTP1Parser.Role) throws(HTTP1ParseError) -> HTTP1Parser.Event {
        guard let first = try nextLine(), !first.isEmpty else { throw .bad("invalid_start_line") }
        switch role {
        case .server:
            if first.count > limits.maxRequestLineBytes { throw .requestLineTooLong }
            let (method, target, version) = try parseRequestLine(first)
            var headers = try parseFields(startLineBytes: first.count)
            return .requestHead(try makeRequestHead(method: method, target: target, version: version, headers: &headers))
        case .client:
            let (version, status, reason) = try parseStatusLine(first)
            let headers = try parseFields(startLineBytes: first.count)
            return .responseHead(ResponseHead(status: status, reason: reason, version: version, headers: headers))
        }
    }

    // MARK: start lines

    private func parseRequestLine(_ line: Range<Int>) throws(HTTP1ParseError) -> (String, String, HTTPVersion) {
        var i = line.lowerBound
        while i < line.upperBound && Self.isToken(bytes[i]) { i += 1 }
        guard i > line.lowerBound, i < line.upperBound, bytes[i] == 0x20 else { throw .bad("invalid_method") }
        let method = ascii(line.lowerBound..<i)
        let targetStart = i + 1
        var j = targetStart
        while j < line.upperBound && bytes[j] > 0x20 && bytes[j] < 0x7F { j += 1 }
        guard j > targetStart, j < line.upperBound, bytes[j] == 0x20 else { throw .bad("invalid_url") }
        let target = ascii(targetStart..<j)
        let version = try parseVersion((j + 1)..<line.upperBound)
        return (method, target, version)
    }

    private func parseStatusLine(_ line: Range<Int>) throws(HTTP1ParseError) -> (HTTPVersion, Int, String?) {
        guard line.count >= 12, bytes[line.lowerBound + 8] == 0x20 else { throw .bad("invalid_status_line") }
        let version = try parseVersion(line.lowerBound..<(line.lowerBound + 8))
        var status = 0
        for k in (line.lowerBound + 9)..<(line.lowerBound + 12) {
            let d = bytes[k]
            guard d >= 0x30 && d <= 0x39 else { throw .bad("invalid_status") }
            status = status * 10 + Int(d - 0x30)
        }
        guard (100...599).contains(status) else { throw .bad("invalid_status") }
        var reason: String?
        if line.count > 12 {
            guard bytes[line.lowerBound + 12] == 0x20 else { throw .bad("invalid_status_line") }
            let r = (line.lowerBound + 13)..<line.upperBound
            for k in r where !Self.isFieldValueByte(bytes[k]) { throw .bad("invalid_characters") }
            reason = text(r)
        }
        return (version, status, reason)
    }

    private func parseVersion(_ r: Range<Int>) throws(HTTP1ParseError) -> HTTPVersion {
        guard r.count == 8, bytes[r.lowerBound] == 0x48, bytes[r.lowerBound + 1] == 0x54, bytes[r.lowerBound + 2] == 0x54,
              bytes[r.lowerBound + 3] == 0x50, bytes[r.lowerBound + 4] == 0x2F, bytes[r.lowerBound + 6] == 0x2E else {
            throw .bad("invalid_version")
        }
        let major = bytes[r.lowerBound + 5], minor = bytes[r.lowerBound + 7]
        guard major >= 0x30 && major <= 0x39 && minor >= 0x30 && minor <= 0x39 else { throw .bad("invalid_version") }
        // HTTP/1.x with x > 1 is read as HTTP/1.1 (RFC 9110 §2.5: the highest minor version
        // the recipient implements); HTTP/0.9 and other majors are not spoken here.
        guard major == 0x31, minor >= 0x30 else { throw .versionNotSupported }
        return minor == 0x30 ? .http10 : .http11
    }

    // MARK: fields

    mutating func parseFields(startLineBytes: Int) throws(HTTP1ParseError) -> HeaderMap {
        var entries: [HeaderMap.Element] = []
        entries.reserveCapacity(8)
        // As Envoy counts max_request_headers_kb: the start line and the field lines, without
        // line terminators.
        var fieldBytes = startLineBytes
        while let line = try nextLine() {
            if line.isEmpty { return HeaderMap(lowercased: entries) }
            let b0 = bytes[line.lowerBound]
            if b0 == 0x20 || b0 == 0x09 { throw .bad("obsolete_line_folding") }
            var colon = line.lowerBound
            while colon < line.upperBound && Self.isToken(bytes[colon]) { colon += 1 }
            guard colon < line.upperBound, bytes[colon] == 0x3A else {
                if colon < line.upperBound && (bytes[colon] == 0x20 || bytes[colon] == 0x09) { throw .bad("whitespace_before_colon") }
                throw .bad("invalid_header_name")
            }
            guard colon > line.lowerBound else { throw .bad("empty_header_name") }
            var vs = colon + 1
            var ve = line.upperBound
            while vs < ve && (bytes[vs] == 0x20 || bytes[vs] == 0x09) { vs += 1 }
            while ve > vs && (bytes[ve - 1] == 0x20 || bytes[ve - 1] == 0x09) { ve -= 1 }
            var ascii = true
            for k in vs..<ve {
                let b = bytes[k]
                guard Self.isFieldValueByte(b) else { throw .bad("invalid_characters") }
                if b >= 0x80 { ascii = false }
            }
            entries.append((lowercasedName(line.lowerBound..<colon), try value(vs..<ve, ascii: ascii)))
            // Field lines without their terminators: the same measure the incremental scan uses.
            fieldBytes += line.count
            if entries.count > limits.maxHeaderCount { throw .tooManyHeaders }
            if fieldBytes > limits.maxHeaderBytes { throw .headersTooLarge }
        }
        throw .bad("missing_blank_line")
    }

    private func lowercasedName(_ r: Range<Int>) -> String {
        String(unsafeUninitializedCapacity: r.count) { out in
            var n = 0
            for k in r {
                let b = bytes[k]
                out[n] = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
                n += 1
            }
            return n
        }
    }

    /// Field values must be valid UTF-8 so they can be forwarded unchanged (obs-text that is
    /// not UTF-8 is refused rather than silently altered).
    private func value(_ r: Range<Int>, ascii: Bool) throws(HTTP1ParseError) -> String {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[r])
        if ascii { return String(decoding: slice, as: UTF8.self) }
        guard let s = String(validating: slice, as: UTF8.self) else { throw .bad("invalid_header_value_encoding") }
        return s
    }

    private func ascii(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self) }
    private func text(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self) }

    // MARK: request head

    private func makeRequestHead(method: String, target: String, version: HTTPVersion,
                                 headers: inout HeaderMap) throws(HTTP1ParseError) -> RequestHead {
        var authority: String?
        var hostIndex = -1
        for i in 0..<headers.count where headers.entries[i].name == "host" {
            if hostIndex >= 0 { throw .bad("multiple_host_headers") }
            hostIndex = i
        }
        if hostIndex >= 0 {
            let host = headers.entries[hostIndex].value
            if !Self.isValidAuthority(host) { throw .bad("invalid_host") }
            authority = host
            headers.remove(at: hostIndex)
        }
        var scheme = "http"
        var path = target
        var absoluteForm = false
        if target.utf8.first == UInt8(ascii: "/") {
            // origin-form
        } else if target == "*" {
            guard method == "OPTIONS" else { throw .bad("invalid_url") }
        } else if method == "CONNECT" {
            // authority-form: host:port, nothing else (RFC 9112 §3.2.3).
            guard Self.isValidAuthority(target), let colon = target.lastIndex(of: ":"),
                  let port = Int(target[target.index(after: colon)...]), (1...65535).contains(port),
                  colon > target.startIndex, !target.contains("@") else { throw .bad("invalid_url") }
            authority = target
            path = ""
        } else if let schemeEnd = Self.schemeSeparator(in: target) {
            // absolute-form: the URI's authority wins over Host (RFC 9112 §3.2.2)
            scheme = target[..<schemeEnd].lowercased()
            guard scheme == "http" || scheme == "https" else { throw .bad("invalid_url") }
            let rest = target[target.index(schemeEnd, offsetBy: 3)...]
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let uriAuthority = String(rest[..<slash])
            guard !uriAuthority.isEmpty, Self.isValidAuthority(uriAuthority), !uriAuthority.contains("@") else { throw .bad("invalid_url") }
            authority = uriAuthority
            absoluteForm = true
            path = slash == rest.endIndex ? "/" : (rest[slash] == "?" ? "/" + rest[slash...] : String(rest[slash...]))
        } else {
            throw .bad("invalid_url")
        }
        var head = RequestHead(method: method, path: path, authority: authority, scheme: scheme, version: version, headers: headers)
        head.absoluteForm = absoluteForm
        return head
    }

    /// Index of "://" in an absolute URI, if the part before it is a scheme.
    static func schemeSeparator(in target: String) -> String.Index? {
        var i = target.startIndex
        while i < target.endIndex {
            let c = target[i]
            if c == ":" {
                return target[i...].hasPrefix("://") && i > target.startIndex ? i : nil
            }
            guard c.isLetter || c.isNumber || c == "+" || c == "-" || c == "." else { return nil }
            i = target.index(after: i)
        }
        return nil
    }

    static func isValidAuthority(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.allSatisfy { b in
            b > 0x20 && b < 0x7F && b != UInt8(ascii: "/") && b != UInt8(ascii: "?") && b != UInt8(ascii: "#")
                && b != UInt8(ascii: "\\") && b != UInt8(ascii: "\"")
        }
    }
}
