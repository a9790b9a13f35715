import NIOHPACK

/// Between Ferry's HTTP/1-style heads and HTTP/2 header blocks (RFC 9113 §8.3): the request's
/// method, scheme, authority and path become pseudo-headers; connection-specific fields are
/// dropped (an HTTP/2 peer must treat them as malformed). Pure functions, unit tested.
enum HTTP2HeaderMapping {
    /// Fields that mean something only for one HTTP/1 connection (RFC 9113 §8.2.2); `host`
    /// travels as `:authority`.
    static func isConnectionSpecific(_ name: String) -> Bool {
        switch name {
        case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "host": true
        default: false
        }
    }

    /// The request head as an HTTP/2 header block; `scheme` is `https` over upstream TLS.
    static func requestHeaders(_ head: RequestHead, scheme: String) -> HPACKHeaders {
        var out = HPACKHeaders()
        out.reserveCapacity(head.headers.count + 4)
        out.add(name: ":method", value: head.method)
        out.add(name: ":scheme", value: scheme)
        if let authority = head.authority { out.add(name: ":authority", value: authority) }
        out.add(name: ":path", value: head.path.isEmpty ? "/" : head.path)
        for (name, value) in head.headers {
            if isConnectionSpecific(name) { continue }
            // TE is allowed only as "trailers" (gRPC sends it).
            if name == "te", !headerValue(value, containsToken: "trailers") { continue }
            out.add(name: name, value: name == "te" ? "trailers" : value)
        }
        return out
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
