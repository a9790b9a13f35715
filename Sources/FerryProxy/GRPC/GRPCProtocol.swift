import FerryTelemetry
import NIOCore

/// Facts about gRPC messages as Envoy's `Grpc::Common` reads them.
enum GRPCProtocol {
    /// `hasGrpcContentType`: `application/grpc`, or with a `+suffix` or `;parameters`.
    static func isGRPC(contentType: String?) -> Bool { GRPCStatusCode.isGRPC(contentType: contentType) }

    /// `isGrpcResponseHeaders`: a trailers-only answer (`endStream`) needs `grpc-status`;
    /// otherwise status 200 and a gRPC content-type.
    static func isGRPCResponse(_ head: ResponseHead, endStream: Bool) -> Bool {
        if endStream { return head.headers.contains("grpc-status") }
        return head.status == 200 && isGRPC(contentType: head.headers.first("content-type"))
    }

    /// `resolveServiceAndMethod`: `/<service>/<method>` (empty segments skipped, query
    /// ignored); nil for any other shape.
    static func serviceAndMethod(path: String) -> (service: Substring, method: Substring)? {
        let pathOnly = path.utf8.firstIndex(of: UInt8(ascii: "?")).map { path[..<$0] } ?? path[...]
        let parts = pathOnly.split(separator: "/")
        guard parts.count == 2 else { return nil }
        return (parts[0], parts[1])
    }

    /// The length-prefixed message frame: flags (bit 0: compressed; 0x80: gRPC-Web trailers),
    /// then the payload length as a big-endian UInt32.
    static let frameHeaderSize = 5
    static let trailerFrameFlag: UInt8 = 0x80

    /// A gRPC-Web trailer frame: `name:value\r\n` per trailer after the frame header.
    static func trailerFrame(_ trailers: HeaderMap) -> ByteBuffer {
        var payload = 0
        for (name, value) in trailers { payload += name.utf8.count + value.utf8.count + 3 }
        var frame = ByteBufferAllocator.shared.buffer(capacity: frameHeaderSize + payload)
        frame.writeInteger(trailerFrameFlag)
        frame.writeInteger(UInt32(payload))
        for (name, value) in trailers {
            frame.writeString(name)
            frame.writeStaticString(":")
            frame.writeString(value)
            frame.writeStaticString("\r\n")
        }
        return frame
    }
}

/// Counts gRPC frames in a byte stream that arrives in chunks split anywhere, as Envoy's
/// `Grpc::FrameInspector`: a frame counts when its first byte arrives.
struct GRPCFrameCounter {
    private enum State {
        /// Reading the 5-byte frame header; `read` bytes of it so far.
        case header(read: Int, length: UInt32)
        /// Skipping the payload.
        case payload(left: UInt32)
    }

    private var state = State.header(read: 0, length: 0)
    private(set) var frames: UInt64 = 0

    /// Scans `data`; returns how many frames started in it.
    mutating func scan(_ data: ByteBuffer) -> UInt64 {
        let before = frames
        data.withUnsafeReadableBytes { bytes in
            var i = 0
            while i < bytes.count {
                switch state {
                case .header(let read, let length):
                    if read == 0 { frames += 1 }
                    let value = read == 0 ? 0 : (length << 8) | UInt32(bytes[i])
                    i += 1
                    if read + 1 == GRPCProtocol.frameHeaderSize {
                        state = value == 0 ? .header(read: 0, length: 0) : .payload(left: value)
                    } else {
                        state = .header(read: read + 1, length: value)
                    }
                case .payload(let left):
                    let take = min(Int(left), bytes.count - i)
                    i += take
                    let rest = left - UInt32(take)
                    state = rest == 0 ? .header(read: 0, length: 0) : .payload(left: rest)
                }
            }
        }
        return frames - before
    }
}
