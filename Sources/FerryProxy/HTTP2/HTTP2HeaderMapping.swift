import NIOHPACK

/// HTTP/2 header blocks ↔ Ferry's codec-neutral heads (RFC 9113 §8.3), both ways: requests
/// from HTTP/2 clients and responses to them, requests to HTTP/2 upstreams and their responses.
/// Inside Ferry a request looks the same whatever its protocol: method and path in the head,
/// `:authority` (or `host`) in `authority`, ordinary fields in `headers`; connection-specific
/// fields are dropped on the way into HTTP/2 (a peer must treat them as malformed). Pure
/// functions, unit tested.
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

    private static let commonStatuses: [Int: String] = Dictionary(
        uniqueKeysWithValues: [200, 204, 206, 301, 302, 304, 400, 401, 403, 404, 429, 500, 502, 503, 504].map { ($0, String($0)) })

    @inline(__always)
    static func statusText(_ status: Int) -> String { commonStatuses[status] ?? String(status) }

    // MARK: upstream (Ferry as the HTTP/2 client)

    /// Fields that mean something only for one HTTP/1 connection (RFC 9113 §8.2.2); `host`
    /// travels as `:authority`.
    static func isConnectionSpecific(_ name: String) -> Bool {
        switch name {
        case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "host": true
        default: false
        }
    }

    /// The request head as an HTTP/2 header block; `scheme` is `https` over upstream TLS.
    static func requestHeaders(_ head: RequestHead, scheme: String, protocol upgrade: String? = nil) -> HPACKHeaders {
        var out = HPACKHeaders()
        out.reserveCapacity(head.headers.count + 5)
        out.add(name: ":method", value: head.method)
        out.add(name: ":scheme", value: scheme)
        if let authority = head.authority { out.add(name: ":authority", value: authority) }
        out.add(name: ":path", value: head.path.isEmpty ? "/" : head.path)
        if let upgrade { out.add(name: ":protocol", value: upgrade) }
        for (name, value) in head.headers {
            if isConnectionSpecific(name) { continue }
            // TE is allowed only as "trailers" (gRPC sends it).
            if name == "te", !headerValue(value, containsToken: "trailers") { continue }
            out.add(name: name, value: name == "te" ? "trailers" : value)
        }
        return out
    }

    /// An HTTP/1.1 upgrade request as the RFC 8441 extended CONNECT that carries it over
    /// HTTP/2 (as Envoy's codec turns it): `:method CONNECT`, `:protocol` the upgrade token,
    /// the path and authority kept; `upgrade` and `connection` dropped with the other
    /// connection-specific fields.
    static func extendedConnectHeaders(_ head: RequestHead, protocol upgrade: String, scheme: String) -> HPACKHeaders {
        var connect = head
        connect.method = "CONNECT"
        return requestHeaders(connect, scheme: scheme, protocol: upgrade)
    }

    enum ResponseError: Error, Equatable {
        case missingStatus
        case invalidStatus(String)
    }

    /// A response header block as a `ResponseHead` (`:status` → status; other pseudo-headers dropped).
    static func responseHead(_ headers: HPACKHeaders) throws(ResponseError) -> ResponseHead {
        var status: Int?
        var entries: [HeaderMap.Element] = []
        entries.reserveCapacity(headers.count)
        for (name, value, _) in headers {
            if name.utf8.first == UInt8(ascii: ":") {
                if name == ":status" {
                    guard value.utf8.count == 3, let code = Int(value), (100...999).contains(code) else {
                        throw .invalidStatus(value)
                    }
                    status = code
                }
                continue
            }
            entries.append((name: name, value: value))
        }
        guard let status else { throw .missingStatus }
        return ResponseHead(status: status, version: .http2, headers: HeaderMap(lowercased: entries))
    }

    /// A trailer block (pseudo-headers are not allowed there and are dropped).
    static func trailers(_ headers: HPACKHeaders) -> HeaderMap {
        var entries: [HeaderMap.Element] = []
        for (name, value, _) in headers where name.utf8.first != UInt8(ascii: ":") { entries.append((name: name, value: value)) }
        return HeaderMap(lowercased: entries)
    }
}
