import Foundation
import NIOCore
import NIOPosix

/// Sends bytes exactly as given (malformed requests, HTTP/1.0, no Host) and reads the raw
/// answer, for tests that a well-behaved client such as curl cannot express.
public enum RawHTTPClient {
    /// Writes `request` to `127.0.0.1:port` and returns the first complete response, or what
    /// arrived before the peer closed or `timeout` seconds passed (then `status` is 0).
    /// `halfClose` shuts the client's sending side after the request, as `shutdown(SHUT_WR)`.
    public static func exchange(
        port: Int, _ request: String, halfClose: Bool = false, timeout: Double = 10,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RawHTTPResponse {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        if halfClose { try await channel.close(mode: .output).get() }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let (bytes, closed) = collector.snapshot()
            if var response = RawHTTPResponse.parse(bytes, complete: closed) {
                response.closedByPeer = closed
                return response
            }
            if closed || Date() > deadline {
                let text = String(decoding: bytes, as: UTF8.self)
                return RawHTTPResponse(status: 0, headers: [], body: text, closedByPeer: closed)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Collects bytes on the event loop; the test task reads snapshots under the lock.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private let lock = NSLock()
        private var bytes: [UInt8] = []
        private var closed = false

        func snapshot() -> ([UInt8], Bool) { lock.withLock { (bytes, closed) } }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            lock.withLock { bytes += buffer.readableBytesView }
        }

        func channelInactive(context: ChannelHandlerContext) {
            lock.withLock { closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}

/// One HTTP/1.x response parsed from raw bytes (content-length, chunked, or until close).
public struct RawHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: String
    /// True when the peer had closed the connection by the time the response was returned.
    public var closedByPeer = false

    public init(status: Int, headers: [(String, String)], body: String, closedByPeer: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.closedByPeer = closedByPeer
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// Parses a response once its framing says it is complete; `complete` means the peer
    /// closed, which ends a body without length.
    public static func parse(_ bytes: [UInt8], complete: Bool) -> RawHTTPResponse? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.firstRange(of: separator) else { return nil }
        let head = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let response = RawHTTPResponse(status: status, headers: headers, body: "")
        let rest = Array(bytes[headEnd.upperBound...])
        if let length = response.header("content-length").flatMap(Int.init) {
            guard rest.count >= length else { return complete ? response.with(body: rest) : nil }
            return response.with(body: Array(rest.prefix(length)))
        }
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            guard let body = decodeChunked(rest) else { return complete ? response.with(body: rest) : nil }
            return response.with(body: body)
        }
        if status == 204 || status == 304 || (100..<200).contains(status) { return response }
        return complete ? response.with(body: rest) : nil
    }

    private func with(body: [UInt8]) -> RawHTTPResponse {
        var copy = self
        copy.body = String(decoding: body, as: UTF8.self)
        return copy
    }

    /// The decoded body once the last chunk and the final CRLF have arrived, else nil.
    static func decodeChunked(_ bytes: [UInt8]) -> [UInt8]? {
        var body: [UInt8] = []
        var index = 0
        let crlf: [UInt8] = [13, 10]
        while true {
            guard let lineEnd = bytes[index...].firstRange(of: crlf) else { return nil }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
            index = lineEnd.upperBound
            if size == 0 { return bytes[index...].firstRange(of: crlf) == nil ? nil : body }
            guard bytes.count >= index + size + 2 else { return nil }
            body += bytes[index..<index + size]
            index += size + 2
        }
    }
}
