import NIOCore

/// Standard base64 (RFC 4648, with padding) for gRPC-Web text bodies, without Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// Appends the encoding of `input` (with padding) to `output`.
    static func encode(_ input: ByteBuffer, into output: inout ByteBuffer) {
        output.reserveCapacity(minimumWritableBytes: (input.readableBytes + 2) / 3 * 4)
        input.withUnsafeReadableBytes { bytes in
            var i = 0
            while i + 3 <= bytes.count {
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                output.writeInteger(alphabet[Int(n >> 18 & 63)])
                output.writeInteger(alphabet[Int(n >> 12 & 63)])
                output.writeInteger(alphabet[Int(n >> 6 & 63)])
                output.writeInteger(alphabet[Int(n & 63)])
                i += 3
            }
            let rest = bytes.count - i
            guard rest > 0 else { return }
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            output.writeInteger(alphabet[Int(n >> 18 & 63)])
            output.writeInteger(alphabet[Int(n >> 12 & 63)])
            output.writeInteger(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            output.writeInteger(UInt8(ascii: "="))
        }
    }

    /// Decodes whole 4-character groups; each group may end in padding, so separately
    /// encoded pieces that were concatenated decode too. Nil on a character outside the
    /// alphabet or misplaced padding.
    static func decodeGroups(_ input: ByteBuffer, into output: inout ByteBuffer) -> Bool {
        precondition(input.readableBytes % 4 == 0)
        output.reserveCapacity(minimumWritableBytes: input.readableBytes / 4 * 3)
        return input.withUnsafeReadableBytes { bytes in
            var i = 0
            while i < bytes.count {
                let pad = (bytes[i + 3] == UInt8(ascii: "=") ? 1 : 0) + (bytes[i + 2] == UInt8(ascii: "=") ? 1 : 0)
                if pad == 1 && bytes[i + 2] == UInt8(ascii: "=") { return false }  // "ab=c"
                var n: UInt32 = 0
                for j in 0..<(4 - pad) {
                    let v = values[Int(bytes[i + j])]
                    guard v != 0xFF else { return false }
                    n |= UInt32(v) << (18 - 6 * j)
                }
                output.writeInteger(UInt8(n >> 16 & 0xFF))
                if pad < 2 { output.writeInteger(UInt8(n >> 8 & 0xFF)) }
                if pad < 1 { output.writeInteger(UInt8(n & 0xFF)) }
                i += 4
            }
            return true
        }
    }
}

/// Decodes a base64 stream that arrives in chunks split anywhere (gRPC-Web text requests):
/// whole 4-character groups are decoded as they arrive, up to 3 characters wait for the next
/// chunk, as Envoy's grpc_web filter does.
struct Base64StreamDecoder {
    enum Failure: Error {
        /// The stream ended inside a 4-character group.
        case badSize
        /// A character outside the alphabet, or padding in the wrong place.
        case badData
    }

    private var pending = ByteBuffer()

    /// Decodes what `chunk` completes; at `end` nothing may be left over.
    mutating func decode(_ chunk: ByteBuffer, end: Bool) -> Result<ByteBuffer, Failure> {
        var input = chunk
        if pending.readableBytes > 0 {
            var joined = pending
            joined.writeImmutableBuffer(chunk)
            input = joined
            pending.clear()
        }
        let whole = input.readableBytes / 4 * 4
        if end && whole != input.readableBytes { return .failure(.badSize) }
        if whole < input.readableBytes {
            pending.writeImmutableBuffer(input.getSlice(at: input.readerIndex + whole, length: input.readableBytes - whole)!)
        }
        var output = ByteBufferAllocator.shared.buffer(capacity: whole / 4 * 3)
        guard whole == 0 || Base64.decodeGroups(input.getSlice(at: input.readerIndex, length: whole)!, into: &output) else {
            return .failure(.badData)
        }
        return .success(output)
    }
}

/// Base64 for a gRPC-Web text response as Envoy writes it — each frame encoded on its own, so
/// padding ends every frame — but streaming: whole 3-byte groups go out as they arrive and at
/// most two bytes wait, instead of holding whole frames.
struct GRPCWebTextEncoder {
    /// Bytes of the current frame not encoded yet (fewer than 3 between calls).
    private var run = ByteBuffer()
    private var headerRead = 0
    private var length: UInt32 = 0
    /// Payload bytes of the current frame still to come, once its header is complete.
    private var left = 0

    /// The encoding of what `data` adds; frames that end in it are padded.
    mutating func encode(_ data: ByteBuffer) -> ByteBuffer {
        var input = data
        var output = ByteBufferAllocator.shared.buffer(capacity: (data.readableBytes + run.readableBytes) / 3 * 4 + 4)
        while input.readableBytes > 0 {
            if headerRead < GRPCProtocol.frameHeaderSize {
                let byte = input.readInteger(as: UInt8.self)!
                run.writeInteger(byte)
                if headerRead > 0 { length = length << 8 | UInt32(byte) }
                headerRead += 1
                if headerRead == GRPCProtocol.frameHeaderSize { left = Int(length) }
            } else {
                let take = min(left, input.readableBytes)
                var part = input.readSlice(length: take)!
                run.writeBuffer(&part)
                left -= take
            }
            if headerRead == GRPCProtocol.frameHeaderSize && left == 0 {
                Base64.encode(run, into: &output)  // the frame's end: padded
                run.clear()
                headerRead = 0
                length = 0
            }
        }
        let whole = run.readableBytes / 3 * 3
        if whole > 0 {
            Base64.encode(run.readSlice(length: whole)!, into: &output)
            run.discardReadBytes()
        }
        return output
    }
}
