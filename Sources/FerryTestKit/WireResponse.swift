import Foundation

/// An HTTP/1.x response as it appeared on the wire, with the framing the sender chose, so
/// tests can assert how a body was delimited (length, chunks, or connection close).
public struct WireResponse: Sendable {
    public enum Framing: Sendable, Equatable {
        case contentLength
        case chunked
        /// Body delimited by the connection closing.
        case close
        /// No body by definition (1xx, 204, 304, a reply to HEAD).
        case none
    }

    public var version: String
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var framing: Framing
    /// Data chunks of a chunked body (the last, empty chunk not counted).
    public var chunkCount = 0

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public func headers(named name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    /// Parses consecutive responses from `bytes` and stops at the first incomplete one (a
    /// close-delimited body is complete only when `closed`), or after a 101. `headRequests`
    /// holds the positions (0-based, interim 1xx responses included) of responses to HEAD.
    public static func parseAll(_ bytes: [UInt8], closed: Bool, headRequests: Set<Int> = []) -> [WireResponse] {
        var result: [WireResponse] = []
        var position = 0
        while position < bytes.count,
            let (response, next) = parse(
                bytes, from: position, closed: closed,
                isHead: headRequests.contains(result.count))
        {
            result.append(response)
            position = next
            if response.status == 101 { break }
        }
        return result
    }

    static func parse(_ bytes: [UInt8], from start: Int, closed: Bool, isHead: Bool) -> (WireResponse, Int)? {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: start) else { return nil }
        let lines = String(decoding: bytes[start..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = WireResponse(
            version: String(statusParts[0]), status: status, headers: headers, body: [], framing: .none)
        let bodyStart = headEnd + 4
        if isHead || (100..<200).contains(status) || status == 204 || status == 304 {
            return (response, bodyStart)
        }
        if response.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            response.framing = .chunked
            return parseChunks(bytes, from: bodyStart, into: response)
        }
        if let lengthText = response.header("content-length"), let length = Int(lengthText) {
            response.framing = .contentLength
            guard bytes.count - bodyStart >= length else { return nil }
            response.body = Array(bytes[bodyStart..<bodyStart + length])
            return (response, bodyStart + length)
        }
        guard closed else { return nil }
        response.framing = .close
        response.body = Array(bytes[bodyStart...])
        return (response, bytes.count)
    }

    private static func parseChunks(_ bytes: [UInt8], from start: Int, into response: WireResponse) -> (
        WireResponse, Int
    )? {
        var response = response
        var position = start
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: position) else { return nil }
            let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            position = lineEnd + 2
            if size == 0 {
                // Trailers (if any) end with an empty line.
                while true {
                    guard let end = find([13, 10], in: bytes, from: position) else { return nil }
                    let empty = end == position
                    position = end + 2
                    if empty { return (response, position) }
                }
            }
            guard bytes.count >= position + size + 2 else { return nil }
            response.body += bytes[position..<position + size]
            response.chunkCount += 1
            position += size + 2
        }
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var i = start
        while i <= bytes.count - needle.count {
            if bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}
