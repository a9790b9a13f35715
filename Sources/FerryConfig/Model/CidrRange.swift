/// A parsed IPv4 or IPv6 address: four or sixteen bytes in network order.
public struct IPAddressBytes: Sendable, Hashable {
    public let bytes: [UInt8]
    public var isV4: Bool { bytes.count == 4 }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an IPv4 tail);
    /// nil for anything else, including a port or brackets.
    public init?(_ text: some StringProtocol) {
        if let v4 = Self.parseV4(Substring(text)) {
            bytes = v4
        } else if let v6 = Self.parseV6(Substring(text)) {
            bytes = v6
        } else {
            return nil
        }
    }

    /// 127.0.0.0/8 or ::1, as Envoy's `isLoopbackAddress`.
    public var isLoopback: Bool {
        isV4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    private static func parseV4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            // No leading zeros: inet_pton (which Envoy uses) refuses them, since some stacks read them as octal.
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0", let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    private static func parseV6(_ text: Substring) -> [UInt8]? {
        guard text.contains(":"), text.count <= 45 else { return nil }
        func groups(_ part: Substring) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return nil }
                    out += v4
                } else {
                    guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                    out += [UInt8(value >> 8), UInt8(value & 0xFF)]
                }
            }
            return out
        }
        let halves = text.components(separatedBy: "::")
        switch halves.count {
        case 1:
            guard let all = groups(text), all.count == 16 else { return nil }
            return all
        case 2:
            guard let head = groups(Substring(halves[0])), let tail = groups(Substring(halves[1])),
                  head.count + tail.count <= 14 else { return nil }
            return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
        default:
            return nil
        }
    }
}

extension StringProtocol {
    fileprivate func components(separatedBy separator: String) -> [Substring] {
        var result: [Substring] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            result.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        result.append(rest)
        return result
    }
}

/// `envoy.config.core.v3.CidrRange`: an address prefix and its length.
public struct CidrRange: Sendable, Hashable {
    public let prefix: IPAddressBytes
    public let length: Int

    public init?(prefix text: String, length: Int) {
        guard let prefix = IPAddressBytes(text), (0...prefix.bytes.count * 8).contains(length) else { return nil }
        self.prefix = prefix
        self.length = length
    }

    /// The prefix with the bits past `length` cleared: `10.1.2.3/8` is the network 10.0.0.0.
    public var network: IPAddressBytes {
        var bytes = prefix.bytes
        for i in bytes.indices {
            let keep = min(max(length - i * 8, 0), 8)
            bytes[i] &= UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return IPAddressBytes(bytes: bytes)
    }

    /// Whether `address` lies in the range; an IPv4 address never matches an IPv6 range.
    public func contains(_ address: IPAddressBytes) -> Bool {
        guard address.bytes.count == prefix.bytes.count else { return false }
        var remaining = length
        for (a, p) in zip(address.bytes, prefix.bytes) where remaining > 0 {
            let bits = min(remaining, 8)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a & mask != p & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func decode(_ r: ObjectReader) -> CidrRange? {
        defer { r.finish() }
        guard let text = r.string("address_prefix") else {
            r.diagnostics.error(r.node.location, r.path, "CidrRange needs address_prefix",
                                fix: "add address_prefix, e.g. address_prefix: 10.0.0.0")
            return nil
        }
        guard let address = IPAddressBytes(text) else {
            r.diagnostics.error(r.valueLocation(of: "address_prefix"), r.join("address_prefix"),
                                "\"\(text)\" is not an IPv4 or IPv6 address",
                                fix: "write the address alone, without a port or /length (e.g. 10.0.0.0 with prefix_len: 8)")
            return nil
        }
        let bits = address.bytes.count * 8
        let length = Int(r.uint32("prefix_len") ?? 0)
        guard length <= bits else {
            r.diagnostics.error(r.valueLocation(of: "prefix_len"), r.join("prefix_len"),
                                "prefix_len \(length) is longer than the \(bits) bits of \(text)",
                                fix: "use a prefix_len from 0 to \(bits)")
            return nil
        }
        return CidrRange(prefix: text, length: length)
    }
}

/// `HttpConnectionManager.InternalAddressConfig`: which downstream addresses count as internal
/// (`x-envoy-internal: true`, x-envoy-* headers trusted). Empty by default, as in Envoy 1.40:
/// no address is internal until ranges are configured.
public struct InternalAddressConfig: Sendable {
    public var cidrRanges: [CidrRange] = []
    public var unixSockets = false

    public init(cidrRanges: [CidrRange] = [], unixSockets: Bool = false) {
        self.cidrRanges = cidrRanges
        self.unixSockets = unixSockets
    }

    public func isInternal(_ address: IPAddressBytes) -> Bool {
        cidrRanges.contains { $0.contains(address) }
    }

    static func decode(_ r: ObjectReader) -> InternalAddressConfig {
        defer { r.finish() }
        var config = InternalAddressConfig()
        config.unixSockets = r.bool("unix_sockets") ?? false
        config.cidrRanges = r.objects("cidr_ranges", "envoy.config.core.v3.CidrRange").compactMap { CidrRange.decode($0) }
        return config
    }
}
