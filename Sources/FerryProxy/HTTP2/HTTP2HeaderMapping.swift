import NIOHPACK

/// HTTP/2 header blocks ↔ Ferry's codec-neutral heads. Inside Ferry a request looks the same
/// whatever its protocol: method and path in the head, `:authority` (or `host`) in `authority`,
/// ordinary fields in `headers`.
enum HTTP2HeaderMapping {
    /// The request head of a HEADERS block. NIOHTTP2 has already checked the block (pseudo
    /// fields first and known, lower-case names, no connection-specific fields, `:method`,
    /// `:scheme` and `:path` present except on CONNECT). Cookie crumbs are joined with "; " as
    /// RFC 9113 §8.2.3 asks before a hop to HTTP/1.
    static func requestHead(_ block: HPACKHeaders) -> RequestHead {
        var method = ""
        var path = ""
        var authority: String?
        var host: String?
        var headers = HeaderMap()
        var cookie: String?
        for (name, value, _) in block {
            if name.utf8.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = value
                case ":path": path = value
                case ":authority": authority = value
                default: break  // :scheme (the connection decides http/https), :protocol
                }
                continue
            }
            switch name {
            case "cookie": cookie = cookie.map { $0 + "; " + value } ?? value
            case "host": host = host ?? value
            default: headers.addLowercased(name, value)
            }
        }
        if let cookie { headers.addLowercased("cookie", cookie) }
        return RequestHead(method: method, path: path, authority: authority ?? host, version: .http2, headers: headers)
    }

    /// The HEADERS block of a response head: `:status` first, then the fields that may cross
    /// into HTTP/2 (connection-specific ones are dropped, names lower-cased).
    static func responseBlock(_ head: ResponseHead) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.reserveCapacity(head.headers.count + 1)
        block.add(name: ":status", value: statusText(head.status))
        appendFields(head.headers, to: &block)
        return block
    }

    /// A trailers block (no pseudo fields).
    static func trailersBlock(_ trailers: HeaderMap) -> HPACKHeaders {
        var block = HPACKHeaders()
        appendFields(trailers, to: &block)
        return block
    }

    static func appendFields(_ fields: HeaderMap, to block: inout HPACKHeaders) {
        for (name, value) in fields where !isConnectionSpecific(name) {
            if name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
                block.add(name: name.lowercased(), value: value)
            } else {
                block.add(name: name, value: value)
            }
        }
    }

    /// Fields RFC 9113 §8.2.2 forbids in HTTP/2 (an HTTP/1 upstream may send them).
    static func isConnectionSpecific(_ name: String) -> Bool {
        switch name.utf8.count {
        case 7: name == "upgrade"
        case 10: name == "connection" || name == "keep-alive"
        case 16: name == "proxy-connection"
        case 17: name == "transfer-encoding"
        default: false
        }
    }

    private static let commonStatuses: [Int: String] = Dictionary(
        uniqueKeysWithValues: [200, 204, 206, 301, 302, 304, 400, 401, 403, 404, 429, 500, 502, 503, 504].map { ($0, String($0)) })

    @inline(__always)
    static func statusText(_ status: Int) -> String { commonStatuses[status] ?? String(status) }
}
