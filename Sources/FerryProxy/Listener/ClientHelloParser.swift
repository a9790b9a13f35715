import NIOCore

/// What `envoy.filters.listener.tls_inspector` learns from a TLS ClientHello.
struct ClientHello: Equatable, Sendable {
    /// The SNI host name, lower-cased (as Envoy compares it); nil without the extension.
    var serverName: String?
    /// The ALPN list in the client's order; empty without the extension.
    var applicationProtocols: [String]
}

/// Reads the first bytes of a connection the way Envoy's TLS inspector does: a ClientHello,
/// possibly split over several handshake records, yields its SNI and ALPN; anything that is
/// not one is plaintext (`raw_buffer`). Pure and bounded: at most `maxBytes` are examined, and
/// every length is checked against what is there, so no input can make it read out of bounds,
/// allocate without limit or loop.
enum ClientHelloParser {
    enum Outcome: Equatable, Sendable {
        /// The bytes so far are a valid prefix of a ClientHello.
        case needMoreBytes
        /// Not TLS, or not a ClientHello Envoy's BoringSSL would accept: plaintext.
        case notTLS
        case clientHello(ClientHello)
        /// Still incomplete at `maxBytes` (Envoy's `client_hello_too_large`: the connection closes).
        case tooLarge
    }

    /// Envoy's limit on the bytes the inspector reads (TLS_MAX_CLIENT_HELLO).
    static let maxBytes = 16 * 1024
    static let recordHeader = 5

    static func parse(_ buffer: ByteBuffer) -> Outcome {
        buffer.withUnsafeReadableBytes { parse($0) }
    }

    static func parse(_ bytes: [UInt8]) -> Outcome {
        bytes.withUnsafeBytes { parse($0) }
    }

    static func parse(_ input: UnsafeRawBufferPointer) -> Outcome {
        let bytes = UnsafeRawBufferPointer(rebasing: input.prefix(maxBytes))
        var handshake: [UInt8] = []
        var offset = 0
        while true {
            // The handshake message may span records; it is complete once its 4-byte header's length is there.
            if handshake.count >= 4 {
                guard handshake[0] == 1 else { return .notTLS }  // client_hello
                let length = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                if length + 4 + recordHeader > maxBytes { return .tooLarge }
                if handshake.count >= length + 4 {
                    return handshake.withUnsafeBytes { body in
                        parseBody(UnsafeRawBufferPointer(rebasing: body[4..<(4 + length)]))
                    }
                }
            }
            let available = bytes.count - offset
            if available >= 1, bytes[offset] != 0x16 { return .notTLS }  // handshake record
            if available >= 2, bytes[offset + 1] != 0x03 { return .notTLS }
            guard available >= recordHeader else { return incomplete(input.count) }
            let recordLength = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard recordLength > 0, recordLength <= 16384 else { return .notTLS }
            guard available >= recordHeader + recordLength else { return incomplete(input.count) }
            handshake.append(contentsOf: bytes[(offset + recordHeader)..<(offset + recordHeader + recordLength)])
            offset += recordHeader + recordLength
        }
    }

    private static func incomplete(_ count: Int) -> Outcome {
        count >= maxBytes ? .tooLarge : .needMoreBytes
    }

    /// The ClientHello body (after the handshake header): RFC 8446 §4.1.2.
    static func parseBody(_ body: UnsafeRawBufferPointer) -> Outcome {
        var r = Reader(bytes: body)
        guard let version = r.u16(), version >> 8 == 3, r.skip(32),  // legacy_version, random
              let sessionID = r.u8(), sessionID <= 32, r.skip(Int(sessionID)),
              let suites = r.u16(), suites >= 2, suites % 2 == 0, r.skip(Int(suites)),
              let compressions = r.u8(), compressions >= 1, r.skip(Int(compressions))
        else { return .notTLS }
        var hello = ClientHello(serverName: nil, applicationProtocols: [])
        if r.remaining == 0 { return .clientHello(hello) }  // no extensions
        guard let total = r.u16(), Int(total) == r.remaining else { return .notTLS }
        var seen = Set<UInt16>()
        while r.remaining > 0 {
            guard let type = r.u16(), let length = r.u16(), let data = r.take(Int(length)),
                  seen.insert(type).inserted else { return .notTLS }  // a repeated extension is fatal
            switch type {
            case 0:
                guard let name = serverName(data) else { return .notTLS }
                hello.serverName = name
            case 16:
                guard let protocols = applicationProtocols(data) else { return .notTLS }
                hello.applicationProtocols = protocols
            default:
                break
            }
        }
        return .clientHello(hello)
    }

    /// server_name (RFC 6066 §3): one host_name entry of 1...255 bytes without NUL, as BoringSSL requires.
    private static func serverName(_ data: UnsafeRawBufferPointer) -> String? {
        var r = Reader(bytes: data)
        guard let list = r.u16(), Int(list) == r.remaining, let kind = r.u8(), kind == 0,
              let length = r.u16(), (1...255).contains(length), let name = r.take(Int(length)), r.remaining == 0,
              !name.contains(0) else { return nil }
        return String(decoding: name, as: UTF8.self).lowercased()
    }

    /// application_layer_protocol_negotiation (RFC 7301 §3.1): a non-empty list of non-empty names.
    private static func applicationProtocols(_ data: UnsafeRawBufferPointer) -> [String]? {
        var r = Reader(bytes: data)
        guard let list = r.u16(), list >= 2, Int(list) == r.remaining else { return nil }
        var protocols: [String] = []
        while r.remaining > 0 {
            guard let length = r.u8(), length > 0, let name = r.take(Int(length)) else { return nil }
            protocols.append(String(decoding: name, as: UTF8.self))
        }
        return protocols
    }

    /// A bounds-checked cursor: every read returns nil past the end instead of trapping.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        var remaining: Int { bytes.count - position }

        mutating func u8() -> UInt8? {
            guard remaining >= 1 else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func u16() -> UInt16? {
            guard remaining >= 2 else { return nil }
            defer { position += 2 }
            return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
        }

        mutating func skip(_ count: Int) -> Bool { take(count) != nil }

        mutating func take(_ count: Int) -> UnsafeRawBufferPointer? {
            guard count >= 0, remaining >= count else { return nil }
            defer { position += count }
            return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        }
    }
}
