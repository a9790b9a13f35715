import NIOCore

/// Splits the bytes a scripted test upstream receives into HTTP/1 request heads, skipping each
/// request's `content-length` body.
struct RequestHeadReader {
    private var buffer: [UInt8] = []
    private var bodyToSkip = 0

    mutating func append(_ bytes: ByteBuffer) { buffer += bytes.readableBytesView }

    /// Drops the body bytes of the last head that have arrived; true once all of them have.
    mutating func skipBody() -> Bool {
        let skipped = min(bodyToSkip, buffer.count)
        buffer.removeFirst(skipped)
        bodyToSkip -= skipped
        return bodyToSkip == 0
    }

    /// The next complete head (without its blank line), or nil; its body is skipped next.
    mutating func nextHead() -> String? {
        guard let end = WireResponse.find([13, 10, 13, 10], in: buffer, from: 0) else { return nil }
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        bodyToSkip = Self.contentLength(of: head)
        return head
    }

    /// Whatever arrived after the last head (tunnel bytes after an upgrade).
    mutating func takeRest() -> [UInt8] {
        defer { buffer = [] }
        return buffer
    }

    static func contentLength(of head: String) -> Int {
        for line in head.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                return Int(parts[1].trimmingSpaces()) ?? 0
            }
        }
        return 0
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
