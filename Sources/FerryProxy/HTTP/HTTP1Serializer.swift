import NIOCore

/// Writes HTTP/1.1 heads and chunk framing. Header names go out lower-case, as Envoy's do.
enum HTTP1Serializer {
    static func writeRequestHead(_ head: RequestHead, into buffer: inout ByteBuffer) {
        buffer.writeString(head.method)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(head.path.isEmpty ? "/" : head.path)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        if let authority = head.authority {
            buffer.writeStaticString("host: ")
            buffer.writeString(authority)
            buffer.writeStaticString("\r\n")
        }
        writeFields(head.headers, into: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// `chunked` and `connection` add `transfer-encoding: chunked` and `connection: ...` after
    /// the head's fields (the head must not hold a connection field then).
    static func writeResponseHead(_ head: ResponseHead, version: HTTPVersion, chunked: Bool = false,
                                  connection: StaticString? = nil, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(version == .http10 ? "HTTP/1.0 " : "HTTP/1.1 ")
        writeStatus(head.status, into: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(head.reason ?? HTTPReason.phrase(head.status))
        buffer.writeStaticString("\r\n")
        writeFields(head.headers, into: &buffer)
        if chunked { buffer.writeStaticString("transfer-encoding: chunked\r\n") }
        if let connection {
            buffer.writeStaticString("connection: ")
            buffer.writeStaticString(connection)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    @inline(__always)
    static func writeStatus(_ status: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + status / 100))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + (status / 10) % 10))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + status % 10))
    }

    @inline(__always)
    static func writeFields(_ headers: HeaderMap, into buffer: inout ByteBuffer) {
        // By index: iterating the sequence copies (and retains) every name and value.
        var i = 0
        let entries = headers.entries
        while i < entries.count {
            buffer.writeString(entries[i].name)
            buffer.writeStaticString(": ")
            buffer.writeString(entries[i].value)
            buffer.writeStaticString("\r\n")
            i += 1
        }
    }

    static func writeChunkHeader(_ length: Int, into buffer: inout ByteBuffer) {
        let hex = String(length, radix: 16)
        buffer.writeString(hex)
        buffer.writeStaticString("\r\n")
    }

    static func writeLastChunk(trailers: HeaderMap?, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("0\r\n")
        if let trailers { writeFields(trailers, into: &buffer) }
        buffer.writeStaticString("\r\n")
    }
}
