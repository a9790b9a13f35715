/// gRPC length-prefixed messages (gRPC over HTTP/2, "Length-Prefixed-Message"): a
/// compressed-flag byte, a 4-byte big-endian length, then the message.
public enum GRPCFrame {
    public static let headerSize = 5

    /// One uncompressed frame holding `message`.
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0]
        out.reserveCapacity(headerSize + message.count)
        let n = UInt32(truncatingIfNeeded: message.count)
        out.append(contentsOf: [UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)])
        out.append(contentsOf: message)
        return out
    }
}

/// Splits a byte stream into gRPC messages, whatever the chunking: feed bytes with `append`,
/// then take complete messages with `next()` until it returns nil.
///
/// A frame with the compressed flag set is an error (Ferry negotiates no compression with the
/// upstream when transcoding), as is a declared length above `maxMessageSize`: the decoder
/// never buffers more than one frame plus what was appended.
public struct GRPCFrameDecoder: Sendable {
    public let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maxMessageSize: Int = 4 * 1024 * 1024) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes received but not yet returned as a message.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil when more bytes are needed.
    public mutating func next() throws -> [UInt8]? {
        guard bufferedByteCount >= GRPCFrame.headerSize else { return nil }
        let flag = buffer[readIndex]
        guard flag == 0 else {
            throw TranscodingError.invalidFrame(flag == 1
                ? "gRPC message is compressed, which transcoding does not support"
                : "gRPC frame has invalid flags \(flag)")
        }
        var length = 0
        for i in 1...4 { length = length << 8 | Int(buffer[readIndex + i]) }
        guard length <= maxMessageSize else {
            throw TranscodingError.invalidFrame("gRPC message of \(length) bytes is larger than the limit of \(maxMessageSize)")
        }
        guard bufferedByteCount >= GRPCFrame.headerSize + length else { return nil }
        let start = readIndex + GRPCFrame.headerSize
        let message = Array(buffer[start..<start + length])
        readIndex = start + length
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
        return message
    }

    /// True when the stream may end here (no partial frame is buffered).
    public var isAtFrameBoundary: Bool { bufferedByteCount == 0 }
}
