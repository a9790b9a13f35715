import NIOCore

extension HTTP1Parser {
    /// Longest accepted chunk-size line, extensions included.
    static let maxChunkLine = 4096

    /// `1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ) CRLF`.
    mutating func parseChunkHeader(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        let result: Result<(size: Int, length: Int)?, HTTP1ParseError> = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(HTTP1ParseError) -> (size: Int, length: Int)? in try Self.scanChunkLine(bytes) }
        }
        guard let (size, length) = try result.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: length)
        if size == 0 {
            state = .trailers
            return try parseTrailers(&buffer)
        }
        state = .chunkData(remaining: size)
        return try next(&buffer)
    }

    static func scanChunkLine(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (size: Int, length: Int)? {
        let result = try scanChunkLineBody(bytes)
        // Still incomplete after the longest allowed line: refuse instead of buffering without end.
        if result == nil && bytes.count > maxChunkLine { throw .bad("invalid_chunk_extension") }
        return result
    }

    private static func scanChunkLineBody(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (size: Int, length: Int)? {
        var i = 0
        var size = 0
        var digits = 0
        while i < bytes.count, let v = hexValue(bytes[i]) {
            digits += 1
            if digits > 15 { throw .bad("invalid_chunk_size") }
            size = size << 4 | v
            i += 1
        }
        if i == bytes.count {
            if bytes.count > maxChunkLine { throw .bad("invalid_chunk_size") }
            return nil
        }
        guard digits > 0 else { throw .bad("invalid_chunk_size") }
        // Extensions: validated and discarded, as Envoy and nginx do.
        while i < bytes.count && bytes[i] != 0x0D {
            let b = bytes[i]
            if b == 0x0A { throw .bad("invalid_chunk_size") }
            guard b == 0x3B || b == 0x20 || b == 0x09 else { throw .bad("invalid_chunk_extension") }
            // BWS ";" BWS name
            while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            guard i < bytes.count else { return nil }
            guard bytes[i] == 0x3B else { throw .bad("invalid_chunk_extension") }
            i += 1
            while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            let nameStart = i
            while i < bytes.count && HeadParser.isToken(bytes[i]) { i += 1 }
            guard i < bytes.count else { return nil }
            guard i > nameStart else { throw .bad("invalid_chunk_extension") }
            var j = i
            while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x09) { j += 1 }
            guard j < bytes.count else { return nil }
            if bytes[j] == 0x3D {
                i = j + 1
                while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
                guard i < bytes.count else { return nil }
                if bytes[i] == 0x22 {
                    i += 1
                    while i < bytes.count && bytes[i] != 0x22 {
                        let q = bytes[i]
                        if q == 0x5C {
                            // quoted-pair: "\" ( HTAB / SP / VCHAR / obs-text ); never a line ending or NUL.
                            i += 1
                            guard i < bytes.count else { return nil }
                            let escaped = bytes[i]
                            guard escaped == 0x09 || (escaped >= 0x20 && escaped != 0x7F) else { throw .bad("invalid_chunk_extension") }
                        } else if !(q == 0x09 || (q >= 0x20 && q != 0x7F)) {
                            throw .bad("invalid_chunk_extension")
                        }
                        i += 1
                    }
                    guard i < bytes.count else { return nil }
                    i += 1
                } else {
                    let valueStart = i
                    while i < bytes.count && HeadParser.isToken(bytes[i]) { i += 1 }
                    guard i < bytes.count else { return nil }
                    guard i > valueStart else { throw .bad("invalid_chunk_extension") }
                }
            }
            if i > maxChunkLine { throw .bad("invalid_chunk_extension") }
        }
        guard i + 1 < bytes.count else {
            if i > maxChunkLine { throw .bad("invalid_chunk_size") }
            return nil
        }
        guard bytes[i + 1] == 0x0A else { throw .bad("invalid_chunk_size") }
        return (size, i + 2)
    }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }

    /// Trailer fields after the last chunk, then the blank line.
    mutating func parseTrailers(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        guard buffer.readableBytes >= 1 else { return nil }
        // Common case: no trailers, just CRLF.
        if buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            state = .head
            return .end(nil)
        }
        let limits = self.limits
        let scan: HeadScan = buffer.withUnsafeReadableBytes { bytes in
            if bytes.count >= 1 && bytes[0] == 0x0A { return .error(.bad("invalid_chunk_terminator")) }
            // A trailer section is fields + blank line: the same shape as a head without a start line.
            return Self.scanTrailers(bytes, limits: limits)
        }
        switch scan {
        case .needMore: return nil
        case .error(let e): throw e
        case .complete(let end):
            let result: Result<HeaderMap, HTTP1ParseError> = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(HTTP1ParseError) -> HeaderMap in
                    var parser = HeadParser(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), limits: limits)
                    return try parser.parseFields(startLineBytes: 0)
                }
            }
            let trailers = try result.get()
            buffer.moveReaderIndex(forwardBy: end)
            state = .head
            return .end(trailers)
        }
    }

    static func scanTrailers(_ bytes: UnsafeRawBufferPointer, limits: Limits) -> HeadScan {
        var lineStart = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0A {
                let line = i - lineStart - (i > lineStart && bytes[i - 1] == 0x0D ? 1 : 0)
                if line == 0 { return .complete(i + 1) }
                lineStart = i + 1
            }
            i += 1
        }
        return bytes.count > limits.maxHeaderBytes ? .error(.headersTooLarge) : .needMore(bytes.count)
    }
}
