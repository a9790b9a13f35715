import NIOHPACK

/// HTTP/2 header blocks ↔ Ferry's codec-neutral heads (RFC 9113 §8.3), both ways: requests
/// from HTTP/2 clients and responses to them, requests to HTTP/2 upstreams and their responses.
/// Inside Ferry a request looks the same whatever its protocol: method and path in the head,
/// `:authority` (or `host`) in `authority`, ordinary fields in `headers`; connection-specific
/// fields are dropped on the way into HTTP/2 (a peer must treat them as malformed). Pure
/// functions, unit tested.
enum HTTP2HeaderMapping {
    /// Why a request's HEADERS or trailers block is malformed (RFC 9113 §8.2, §8.3): it never
    /// reaches the router, and its stream or its connection ends with PROTOCOL_ERROR
    /// (`DownstreamHTTP2Session.malformedRequest`).
    enum MalformedBlock: Error, Equatable {
        /// Empty, or not a lower-case token.
        case invalidName(String)
        /// NUL, CR or LF in a field value; SP, a control byte or DEL in a pseudo-header's.
        case invalidValue(String)
        case connectionSpecific(String)
        case teOtherThanTrailers
        case pseudoAfterRegular(String)
        /// Not a request pseudo-header (`:protocol` only where extended CONNECT is allowed).
        case unknownPseudo(String)
        case duplicatePseudo(String)
        case pseudoInTrailers(String)
        /// `:method`, `:scheme` and `:path` (or, for CONNECT, only `:method` and `:authority`).
        case pseudoSet
        case emptyPath
        /// `content-length` not a decimal number (a list is not taken, as in Envoy), or two
        /// that differ.
        case invalidContentLength
    }

    /// A request HEADERS block read into a head.
    struct Request {
        var head: RequestHead
        /// `:protocol` of an RFC 8441 extended CONNECT.
        var extendedConnectProtocol: String?
        /// Names and values plus 32 per field, as HPACK counts a header list's size.
        var headerBytes: Int
        /// The body length `content-length` announces (one field; equal repeats are folded).
        var contentLength: Int?
    }

    private struct Pseudo: OptionSet {
        let rawValue: UInt8
        static let method = Pseudo(rawValue: 1), scheme = Pseudo(rawValue: 2), authority = Pseudo(rawValue: 4)
        static let path = Pseudo(rawValue: 8), `protocol` = Pseudo(rawValue: 16)
    }

    /// The request of a HEADERS block, checked as RFC 9113 §8.2 and §8.3 ask in the same pass
    /// (NIOHTTP2's own check is off on downstream connections: it ran over every block twice,
    /// and Ferry's response blocks are well-formed by construction): lower-case token names,
    /// no connection-specific fields, `te` only `trailers`, no NUL, CR or LF in values, known
    /// pseudo-headers first and once each, `:method`, `:scheme` and a non-empty `:path` (a
    /// plain CONNECT has only `:method` and `:authority`), `content-length` a decimal number
    /// (equal repeats folded into one field). `extendedConnect`: this connection
    /// advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, so `:protocol` may come with CONNECT.
    /// Cookie crumbs are joined with "; " as RFC 9113 §8.2.3 asks before a hop to HTTP/1.
    static func request(_ block: HPACKHeaders, extendedConnect: Bool) throws(MalformedBlock) -> Request {
        var method = ""
        var path = ""
        var authority: String?
        var host: String?
        var connectProtocol: String?
        var headers = HeaderMap()
        // The block's pseudo-headers leave room for the fields the connection manager adds.
        headers.reserveCapacity(block.count + 4)
        var cookie: String?
        var seen: Pseudo = []
        var regularSeen = false
        var headerBytes = 0
        var contentLength: Int?
        var neverIndexed: [String]?
        for (name, value, representation) in block {
            headerBytes += name.utf8.count + value.utf8.count + 32
            if representation == .neverIndexed { noteNeverIndexed(name, in: &neverIndexed) }
            if name.utf8.first == UInt8(ascii: ":") {
                guard !regularSeen else { throw .pseudoAfterRegular(name) }
                let field: Pseudo
                switch name {
                case ":method": field = .method; method = value
                case ":scheme": field = .scheme
                case ":authority": field = .authority; authority = value
                case ":path": field = .path; path = value
                case ":protocol" where extendedConnect: field = .protocol; connectProtocol = value
                default: throw .unknownPseudo(name)
                }
                guard !seen.contains(field) else { throw .duplicatePseudo(name) }
                seen.insert(field)
                for byte in value.utf8 where byte <= 0x20 || byte == 0x7F { throw .invalidValue(name) }
                continue
            }
            regularSeen = true
            let length = try checkField(name, value)
            switch length {
            case 2 where name == "te":
                guard value == "trailers" else { throw .teOtherThanTrailers }
                headers.addLowercased(name, value)
            case 4 where name == "host": host = host ?? value
            case 6 where name == "cookie": cookie = cookie.map { $0 + "; " + value } ?? value
            case 14 where name == "content-length":
                guard let length = HTTP1Parser.decimalLength(value), contentLength == nil || contentLength == length else {
                    throw .invalidContentLength
                }
                if contentLength == nil { headers.addLowercased(name, value) }
                contentLength = length
            default: headers.addLowercased(name, value)
            }
        }
        if method == "CONNECT" && !seen.contains(.protocol) {
            guard seen == [.method, .authority] else { throw .pseudoSet }
        } else {
            guard seen.isSuperset(of: [.method, .scheme, .path]), !seen.contains(.protocol) || method == "CONNECT" else {
                throw .pseudoSet
            }
            guard !path.isEmpty else { throw .emptyPath }
        }
        if let cookie { headers.addLowercased("cookie", cookie) }
        var head = RequestHead(method: method, path: path, authority: authority ?? host, version: .http2, headers: headers)
        head.neverIndexed = neverIndexed
        return Request(head: head, extendedConnectProtocol: connectProtocol, headerBytes: headerBytes, contentLength: contentLength)
    }

    /// A client's trailers block, checked as the fields of `request` are; pseudo-headers are
    /// not allowed in trailers.
    static func requestTrailers(_ block: HPACKHeaders) throws(MalformedBlock) -> HeaderMap {
        var fields = HeaderMap()
        for (name, value, _) in block {
            guard name.utf8.first != UInt8(ascii: ":") else { throw .pseudoInTrailers(name) }
            _ = try checkField(name, value)
            fields.addLowercased(name, value)
        }
        return fields
    }

    /// Checks one regular field (RFC 9113 §8.2.1, §8.2.2) and returns the name's length: a
    /// non-empty lower-case token, not connection-specific, a value without NUL, CR or LF.
    private static func checkField(_ name: String, _ value: String) throws(MalformedBlock) -> Int {
        var length = 0
        for byte in name.utf8 {
            guard isLowerCaseToken(byte) else { throw .invalidName(name) }
            length += 1
        }
        switch length {
        case 0: throw .invalidName(name)
        case 7 where name == "upgrade", 10 where name == "connection" || name == "keep-alive",
             16 where name == "proxy-connection", 17 where name == "transfer-encoding":
            throw .connectionSpecific(name)
        default: break
        }
        for byte in value.utf8 where byte == 0 || byte == 0x0A || byte == 0x0D { throw .invalidValue(name) }
        return length
    }

    /// RFC 9110 token characters without the upper-case letters (HTTP/2 names are lower case).
    @inline(__always)
    private static func isLowerCaseToken(_ byte: UInt8) -> Bool {
        HeadParser.isToken(byte) && !(0x41...0x5A).contains(byte)
    }

    /// The HEADERS block of a response head: `:status` first, then the fields that may cross
    /// into HTTP/2 (connection-specific ones are dropped, names lower-cased).
    static func responseBlock(_ head: ResponseHead) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.reserveCapacity(head.headers.count + 1)
        block.add(name: ":status", value: statusText(head.status))
        appendFields(head.headers, to: &block, neverIndexed: head.neverIndexed)
        return block
    }

    /// A trailers block (no pseudo fields).
    static func trailersBlock(_ trailers: HeaderMap) -> HPACKHeaders {
        var block = HPACKHeaders()
        appendFields(trailers, to: &block)
        return block
    }

    static func appendFields(_ fields: HeaderMap, to block: inout HPACKHeaders, neverIndexed: [String]? = nil) {
        for (name, value) in fields where !isConnectionSpecific(name) {
            let name = name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? name.lowercased() : name
            block.add(name: name, value: value, indexing: indexing(name: name, value: value, neverIndexed: neverIndexed))
        }
    }

    /// Whether a field Ferry encodes may enter the peer's HPACK dynamic table, as nghttp2 (the
    /// codec of Envoy and of most HTTP/2 servers) decides it:
    /// - never indexed (RFC 7541 §7.1.3, and kept so by every later hop): credentials, where
    ///   a table shared by many clients' requests on one upstream connection would let one
    ///   client probe another's value by the size of its own requests (RFC 7541 §7.1.1):
    ///   `authorization`, `proxy-authorization` and `cookie` values shorter than 20 bytes
    ///   (short enough to guess);
    /// - not indexed: fields whose values rarely repeat and would only push useful entries out
    ///   of the table (`:path`, `age`, `content-length`, `etag`, `if-modified-since`,
    ///   `if-none-match`, `location`, `set-cookie`), and any field larger than three quarters
    ///   of the default 4 096-byte table;
    /// - indexed: everything else.
    ///
    /// A field the previous hop sent never-indexed (`neverIndexed`, from the request or response
    /// head) stays never indexed, as RFC 7541 §7.1.3 requires of an intermediary.
    /// Adds a field the peer sent never-indexed to the head's list (nil until the first).
    private static func noteNeverIndexed(_ name: String, in list: inout [String]?) {
        if list == nil { list = [name] } else { list!.append(name) }
    }

    @inline(__always)
    static func indexing(name: String, value: String, neverIndexed: [String]? = nil) -> HPACKIndexing {
        if let neverIndexed, neverIndexed.contains(name) { return .neverIndexed }
        switch name.utf8.count {
        case 3 where name == "age", 4 where name == "etag", 5 where name == ":path", 8 where name == "location",
             10 where name == "set-cookie", 13 where name == "if-none-match", 14 where name == "content-length",
             17 where name == "if-modified-since":
            return .nonIndexable
        case 13 where name == "authorization", 19 where name == "proxy-authorization":
            return .neverIndexed
        case 6 where name == "cookie" && value.utf8.count < 20:
            return .neverIndexed
        default:
            return name.utf8.count + value.utf8.count + 32 > 3_072 ? .nonIndexable : .indexable
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
        let marked = head.neverIndexed
        out.add(name: ":method", value: head.method, indexing: indexing(name: ":method", value: head.method, neverIndexed: marked))
        out.add(name: ":scheme", value: scheme)
        if let authority = head.authority {
            out.add(name: ":authority", value: authority, indexing: indexing(name: ":authority", value: authority, neverIndexed: marked))
        }
        let path = head.path.isEmpty ? "/" : head.path
        out.add(name: ":path", value: path, indexing: indexing(name: ":path", value: path, neverIndexed: marked))
        if let upgrade { out.add(name: ":protocol", value: upgrade) }
        for (name, value) in head.headers {
            if isConnectionSpecific(name) { continue }
            // TE is allowed only as "trailers" (gRPC sends it).
            if name == "te" {
                if headerValue(value, containsToken: "trailers") { out.add(name: name, value: "trailers") }
                continue
            }
            out.add(name: name, value: value, indexing: indexing(name: name, value: value, neverIndexed: marked))
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
        var neverIndexed: [String]?
        entries.reserveCapacity(headers.count)
        for (name, value, representation) in headers {
            if representation == .neverIndexed { noteNeverIndexed(name, in: &neverIndexed) }
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
        var head = ResponseHead(status: status, version: .http2, headers: HeaderMap(lowercased: entries))
        head.neverIndexed = neverIndexed
        return head
    }

    /// A trailer block (pseudo-headers are not allowed there and are dropped).
    static func trailers(_ headers: HPACKHeaders) -> HeaderMap {
        var entries: [HeaderMap.Element] = []
        for (name, value, _) in headers where name.utf8.first != UInt8(ascii: ":") { entries.append((name: name, value: value)) }
        return HeaderMap(lowercased: entries)
    }
}
