import FerryConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `%COMMAND%` compiled for evaluation: the name resolved to a case once (no string
/// comparisons per request), HOSTNAME and ENVIRONMENT captured at init, `:N` kept.
///
/// `write` appends the raw (unescaped) value and returns false when there is none, leaving the
/// placeholder (`-`, `null`, nothing) to the caller, because it differs between text, JSON and
/// header values. Numeric commands write digits; JSON emits them unquoted, as Envoy does.
/// A class so that a compiled format copies one reference per command, not its payload.
final class LogCommand: Sendable {
    enum Operator: Sendable {
        case startTime(WallClockFormat)
        case requestHeader(String, alternative: String?)
        case responseHeader(String, alternative: String?)
        case responseTrailer(String, alternative: String?)
        case constant(String?)
        case protocolName, responseCodeDetails, responseFlags, responseFlagsLong, localReplyBody, uniqueID
        case upstreamHost, upstreamCluster, upstreamLocalAddress, upstreamTransportFailureReason, upstreamProtocol
        case downstreamRemoteAddress, downstreamRemoteAddressWithoutPort
        case downstreamDirectRemoteAddress, downstreamDirectRemoteAddressWithoutPort
        case downstreamLocalAddress, downstreamLocalAddressWithoutPort
        case routeName, virtualClusterName, streamID, requestedServerName
        case downstreamPeerURISAN, downstreamPeerSubject, downstreamTLSVersion
        // Numeric: JSON carries these as numbers.
        case responseCode, bytesReceived, bytesSent, requestHeadersBytes, responseHeadersBytes
        case duration, requestDuration, responseDuration, responseTxDuration, requestTxDuration
        case downstreamRemotePort, downstreamLocalPort
        case upstreamRequestAttemptCount, connectionID, upstreamConnectionID
        /// `%GRPC_STATUS(format)%` (`%GRPC_STATUS_NUMBER%` is `.number`).
        case grpcStatus(GRPCStatusFormat)
    }

    enum GRPCStatusFormat: Sendable {
        case camel, snake, number
    }

    let op: Operator
    let maxLength: Int?

    init(_ command: FormatCommand) {
        maxLength = command.maxLength
        let args = command.arguments
        let header = args.first ?? ""
        let alternative = args.count > 1 ? args[1] : nil
        switch command.name {
        // The parser splits arguments on "?"; only REQ/RESP/TRAILER mean an alternative by it.
        case "START_TIME":
            let pattern = args.joined(separator: "?")
            op = .startTime(pattern.isEmpty ? .envoyDefault : WallClockFormat(pattern))
        case "ENVIRONMENT": op = .constant(Self.environment(args.joined(separator: "?")))
        case "HOSTNAME": op = .constant(Self.hostname)
        case "REQ": op = .requestHeader(header, alternative: alternative)
        case "RESP": op = .responseHeader(header, alternative: alternative)
        case "TRAILER": op = .responseTrailer(header, alternative: alternative)
        case "GRPC_STATUS": op = .grpcStatus(header == "NUMBER" ? .number : header == "SNAKE_STRING" ? .snake : .camel)
        case "GRPC_STATUS_NUMBER": op = .grpcStatus(.number)
        default: op = Self.simple[command.name] ?? .constant(nil)  // FormatCommand admits only known names
        }
    }

    private static let simple: [String: Operator] = [
        "PROTOCOL": .protocolName, "RESPONSE_CODE_DETAILS": .responseCodeDetails, "RESPONSE_FLAGS": .responseFlags,
        "RESPONSE_FLAGS_LONG": .responseFlagsLong, "LOCAL_REPLY_BODY": .localReplyBody, "UNIQUE_ID": .uniqueID,
        "UPSTREAM_HOST": .upstreamHost, "UPSTREAM_REMOTE_ADDRESS": .upstreamHost, "UPSTREAM_CLUSTER": .upstreamCluster,
        "UPSTREAM_LOCAL_ADDRESS": .upstreamLocalAddress, "UPSTREAM_PROTOCOL": .upstreamProtocol,
        "UPSTREAM_TRANSPORT_FAILURE_REASON": .upstreamTransportFailureReason,
        "DOWNSTREAM_REMOTE_ADDRESS": .downstreamRemoteAddress,
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": .downstreamRemoteAddressWithoutPort,
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": .downstreamDirectRemoteAddress,
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": .downstreamDirectRemoteAddressWithoutPort,
        "DOWNSTREAM_LOCAL_ADDRESS": .downstreamLocalAddress,
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": .downstreamLocalAddressWithoutPort,
        "ROUTE_NAME": .routeName, "VIRTUAL_CLUSTER_NAME": .virtualClusterName, "STREAM_ID": .streamID,
        "REQUESTED_SERVER_NAME": .requestedServerName, "RESPONSE_CODE": .responseCode,
        "BYTES_RECEIVED": .bytesReceived, "BYTES_SENT": .bytesSent, "REQUEST_HEADERS_BYTES": .requestHeadersBytes,
        "RESPONSE_HEADERS_BYTES": .responseHeadersBytes, "DURATION": .duration, "REQUEST_DURATION": .requestDuration,
        "RESPONSE_DURATION": .responseDuration, "RESPONSE_TX_DURATION": .responseTxDuration,
        "REQUEST_TX_DURATION": .requestTxDuration, "DOWNSTREAM_REMOTE_PORT": .downstreamRemotePort,
        "DOWNSTREAM_LOCAL_PORT": .downstreamLocalPort, "UPSTREAM_REQUEST_ATTEMPT_COUNT": .upstreamRequestAttemptCount,
        "CONNECTION_ID": .connectionID, "UPSTREAM_CONNECTION_ID": .upstreamConnectionID,
        "DOWNSTREAM_PEER_URI_SAN": .downstreamPeerURISAN, "DOWNSTREAM_PEER_SUBJECT": .downstreamPeerSubject,
        "DOWNSTREAM_TLS_VERSION": .downstreamTLSVersion,
    ]

    /// Whether JSON emits the value unquoted. A `:N` limit makes it a string, since cut digits
    /// (or none, with `:0`) are not the number any more.
    var isNumeric: Bool {
        guard maxLength == nil else { return false }
        switch op {
        case .responseCode, .bytesReceived, .bytesSent, .requestHeadersBytes, .responseHeadersBytes, .duration,
             .requestDuration, .responseDuration, .responseTxDuration, .requestTxDuration, .downstreamRemotePort,
             .downstreamLocalPort, .upstreamRequestAttemptCount, .connectionID, .upstreamConnectionID, .grpcStatus(.number):
            return true
        default:
            return false
        }
    }

    /// Appends the value, cut to `maxLength` UTF-8 bytes; false (nothing appended) when absent.
    func write<Info: StreamInfo>(_ info: Info, into out: inout [UInt8]) -> Bool {
        let start = out.count
        guard writeValue(info, into: &out) else { return false }
        if let maxLength, out.count - start > maxLength {
            // Envoy cuts bytes; we also step back to a scalar boundary so the line stays UTF-8.
            var end = start + maxLength
            while end > start, out[end] & 0xC0 == 0x80 { end -= 1 }
            out.removeSubrange(end...)
        }
        return true
    }

    private func writeValue<Info: StreamInfo>(_ info: Info, into out: inout [UInt8]) -> Bool {
        switch op {
        case .startTime(let format): format.write(nanos: info.startTimeNanos, into: &out)
        case .requestHeader(let name, let alt):
            return out.appendIfPresent(info.requestHeader(name) ?? alt.flatMap { info.requestHeader($0) })
        case .responseHeader(let name, let alt):
            return out.appendIfPresent(info.responseHeader(name) ?? alt.flatMap { info.responseHeader($0) })
        case .responseTrailer(let name, let alt):
            return out.appendIfPresent(info.responseTrailer(name) ?? alt.flatMap { info.responseTrailer($0) })
        case .constant(let value): return out.appendIfPresent(value)
        case .protocolName: return out.appendIfPresent(info.protocolName)
        case .responseCodeDetails: return out.appendNonEmpty(info.responseCodeDetails)
        case .responseFlags: out.appendFlags(info.orderedResponseFlags, long: false)
        case .responseFlagsLong: out.appendFlags(info.orderedResponseFlags, long: true)
        case .localReplyBody: out.append(contentsOf: (info.localReplyBody ?? "").utf8)  // Envoy: "" when none
        case .uniqueID: out.appendRandomUUID()
        case .upstreamHost: return out.appendIfPresent(info.upstreamHost)
        case .upstreamCluster: return out.appendNonEmpty(info.upstreamCluster)
        case .upstreamLocalAddress: return out.appendIfPresent(info.upstreamLocalAddress)
        // Envoy writes the reason with spaces as underscores ("delayed_connect_error:_Connection_refused").
        case .upstreamTransportFailureReason:
            return out.appendNonEmpty(info.upstreamTransportFailureReason?.replacing(" ", with: "_"))
        case .upstreamProtocol: return out.appendIfPresent(info.upstreamProtocol)
        case .downstreamRemoteAddress: return out.appendIfPresent(info.downstreamRemoteAddress)
        case .downstreamRemoteAddressWithoutPort:
            return out.appendIfPresent(info.downstreamRemoteAddress.map(SocketText.host))
        case .downstreamDirectRemoteAddress: return out.appendIfPresent(info.downstreamDirectRemoteAddress)
        case .downstreamDirectRemoteAddressWithoutPort:
            return out.appendIfPresent(info.downstreamDirectRemoteAddress.map(SocketText.host))
        case .downstreamLocalAddress: return out.appendIfPresent(info.downstreamLocalAddress)
        case .downstreamLocalAddressWithoutPort:
            return out.appendIfPresent(info.downstreamLocalAddress.map(SocketText.host))
        case .routeName: return out.appendNonEmpty(info.routeName)
        case .virtualClusterName: return false  // StreamInfo does not carry it yet
        case .streamID: return out.appendNonEmpty(info.streamID)
        case .requestedServerName: return out.appendNonEmpty(info.requestedServerName)
        case .downstreamPeerURISAN: return out.appendNonEmpty(info.downstreamPeerURISAN)
        case .downstreamPeerSubject: return out.appendNonEmpty(info.downstreamPeerSubject)
        case .downstreamTLSVersion: return out.appendNonEmpty(info.downstreamTLSVersion)
        case .responseCode: out.appendDecimal(Int64(info.responseCode ?? 0))  // Envoy prints 0 without a response
        case .bytesReceived: out.appendDecimal(info.bytesReceived)
        case .bytesSent: out.appendDecimal(info.bytesSent)
        case .requestHeadersBytes: out.appendDecimal(info.requestHeadersBytes)
        case .responseHeadersBytes: out.appendDecimal(info.responseHeadersBytes)
        case .duration: return out.appendMilliseconds(info.totalDuration)
        case .requestDuration: return out.appendMilliseconds(info.requestCompleteDuration)
        case .responseDuration: return out.appendMilliseconds(info.firstUpstreamByteDuration)
        case .requestTxDuration: return out.appendMilliseconds(info.lastUpstreamTxByteDuration)
        case .responseTxDuration:
            guard let last = info.lastDownstreamTxByteDuration, let first = info.firstUpstreamByteDuration else {
                return false
            }
            return out.appendMilliseconds(last - first)
        case .downstreamRemotePort: return out.appendPort(info.downstreamRemoteAddress)
        case .downstreamLocalPort: return out.appendPort(info.downstreamLocalAddress)
        case .upstreamRequestAttemptCount: out.appendDecimal(Int64(info.upstreamRequestAttemptCount))
        case .connectionID: out.appendDecimal(info.connectionID)
        case .upstreamConnectionID: out.appendDecimal(info.upstreamConnectionID ?? 0)  // Envoy prints 0 without one
        case .grpcStatus(let format):
            // Envoy: only for gRPC requests; a code without a name is written as its number.
            guard GRPCStatusCode.isGRPC(contentType: info.requestHeader("content-type")), let code = GRPCStatusCode.of(info) else {
                return false
            }
            let name = format == .camel ? GRPCStatusCode.camelName(code) : format == .snake ? GRPCStatusCode.snakeName(code) : nil
            if let name { out.append(contentsOf: name.utf8) } else { out.appendDecimal(code) }
        }
        return true
    }

    /// gethostname(2), read once per process.
    static let hostname: String? = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// Splits "host:port" text as Envoy prints socket addresses: `1.2.3.4:80`, `[::1]:80`.
enum SocketText {
    /// "1.2.3.4", "::1"; text with no recognisable port (a bare IPv6 or a pipe path) as it is.
    static func host(_ address: String) -> Substring {
        let text = Substring(address)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            return text[text.index(after: text.startIndex)..<close]
        }
        guard let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...].firstIndex(of: ":") == nil else {
            return text
        }
        return text[..<colon]
    }

    static func port(_ address: String) -> UInt64? {
        guard let colon = address.lastIndex(of: ":") else { return nil }
        if !address.hasPrefix("["), address[..<colon].contains(":") { return nil }
        return UInt64(address[address.index(after: colon)...])
    }
}

extension Array where Element == UInt8 {
    mutating func appendIfPresent(_ value: String?) -> Bool {
        guard let value else { return false }
        append(contentsOf: value.utf8)
        return true
    }

    mutating func appendIfPresent(_ value: Substring?) -> Bool {
        guard let value else { return false }
        append(contentsOf: value.utf8)
        return true
    }

    /// For fields where Envoy treats an empty value as absent (route name, SNI, details…).
    mutating func appendNonEmpty(_ value: String?) -> Bool {
        guard let value, !value.isEmpty else { return false }
        append(contentsOf: value.utf8)
        return true
    }

    /// Whole milliseconds, truncated toward zero as Envoy's duration_cast does.
    mutating func appendMilliseconds(_ duration: Duration?) -> Bool {
        guard let duration else { return false }
        let (seconds, attoseconds) = duration.components
        appendDecimal(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        return true
    }

    mutating func appendPort(_ address: String?) -> Bool {
        guard let port = address.flatMap(SocketText.port) else { return false }
        appendDecimal(port)
        return true
    }

    /// "UH,UF" in `ResponseFlags.names` order (as `shortString`), "-" when none.
    mutating func appendFlags(_ flags: [ResponseFlags], long: Bool) {
        if flags.isEmpty {
            append(UInt8(ascii: "-"))
            return
        }
        for (i, flag) in flags.enumerated() {
            guard let entry = ResponseFlags.names.first(where: { $0.0 == flag }) else { continue }
            if i > 0 { append(UInt8(ascii: ",")) }
            append(contentsOf: (long ? entry.2 : entry.1).utf8)
        }
    }

    /// A random (version 4) UUID in lower-case 8-4-4-4-12 form.
    mutating func appendRandomUUID() {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000                        // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        for index in 0..<32 {
            if index == 8 || index == 12 || index == 16 || index == 20 { append(UInt8(ascii: "-")) }
            let word = index < 16 ? high : low
            let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - (index % 16) * 4)) & 0xF
            append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
        }
    }
}
