import FerryConfig
import FerryPolicy

/// Envoy's request header handling in the connection manager: hop-by-hop removal,
/// x-forwarded-for/-proto, internal vs edge requests, x-request-id.
enum RequestHeaderRules {
    /// Headers Envoy removes from edge (external) requests before they reach a route.
    static let internalOnlyEnvoyHeaders: [String] = [
        "x-envoy-internal", "x-envoy-decorator-operation", "x-envoy-downstream-service-cluster",
        "x-envoy-downstream-service-node", "x-envoy-expected-rq-timeout-ms", "x-envoy-external-address",
        "x-envoy-force-trace", "x-envoy-max-retries", "x-envoy-retry-grpc-on", "x-envoy-retry-on",
        "x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-per-try-timeout-ms",
        "x-envoy-upstream-rq-timeout-alt-response", "x-envoy-upstream-rq-timeout-ms", "x-envoy-hedge-on-per-try-timeout",
        "x-envoy-ip-tags", "x-envoy-original-url",
    ]

    /// Removes hop-by-hop fields and fields named in `Connection`; keeps `te: trailers` only.
    /// Returns the upgrade token when the request asks for a protocol upgrade.
    static func stripHopByHop(_ headers: inout HeaderMap) -> String? {
        var upgrade: String?
        if let connection = headers.joined("connection") {
            let tokens = connection.split(separator: ",").map { $0.trimmingSpaces().lowercased() }
            if tokens.contains("upgrade"), let value = headers.first("upgrade") { upgrade = value.lowercased() }
            for token in tokens where !token.isEmpty && token != "close" && token != "keep-alive" && token != "upgrade" {
                if ["host", "te", "x-forwarded-for", "x-request-id"].contains(token) { continue }
                headers.remove(token)
            }
            headers.remove("connection")
        }
        headers.remove("keep-alive")
        headers.remove("proxy-connection")
        if upgrade == nil { headers.remove("upgrade") }
        if let te = headers.joined("te") {
            if headerValue(te, containsToken: "trailers") { headers.set("te", "trailers") } else { headers.remove("te") }
        }
        return upgrade
    }

    /// RFC 1918, loopback and unique-local addresses count as internal (Envoy's classic default).
    static func isInternal(_ ip: String?) -> Bool {
        guard let ip else { return false }
        if ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("10.") || ip.hasPrefix("192.168.") { return true }
        if ip.hasPrefix("172.") {
            let parts = ip.split(separator: ".")
            if parts.count > 1, let second = Int(parts[1]), (16...31).contains(second) { return true }
        }
        let lower = ip.lowercased()
        return lower.hasPrefix("fd") || lower.hasPrefix("fc") || lower.hasPrefix("::ffff:127.")
    }

    /// Applies x-forwarded-for / -proto and the internal/external rules; returns the
    /// downstream address Envoy would log as `%DOWNSTREAM_REMOTE_ADDRESS%` and whether the
    /// request is an edge request.
    static func applyForwarding(_ head: inout RequestHead, hcm: HttpConnectionManager, peerIP: String?, scheme: String)
        -> (remote: String?, edge: Bool)
    {
        var remote = peerIP
        var edge = false
        if hcm.useRemoteAddress {
            if hcm.xffNumTrustedHops > 0, let xff = head.headers.joined("x-forwarded-for") {
                let hops = xff.split(separator: ",").map { String($0.trimmingSpaces()) }
                let index = hops.count - Int(hcm.xffNumTrustedHops)
                if index >= 0 && index < hops.count { remote = hops[index] }
            }
            if !hcm.skipXffAppend, let peerIP {
                if let existing = head.headers.joined("x-forwarded-for") {
                    head.headers.set("x-forwarded-for", existing + "," + peerIP)
                } else {
                    head.headers.addLowercased("x-forwarded-for", peerIP)
                }
            }
            head.headers.set("x-forwarded-proto", scheme)
            if isInternal(remote) {
                head.headers.set("x-envoy-internal", "true")
            } else {
                edge = true
                for name in internalOnlyEnvoyHeaders { head.headers.remove(name) }
                if let remote { head.headers.set("x-envoy-external-address", remote) }
            }
        } else {
            if let xff = head.headers.joined("x-forwarded-for") {
                let hops = xff.split(separator: ",").map { String($0.trimmingSpaces()) }
                let index = hops.count - 1 - Int(hcm.xffNumTrustedHops)
                if index >= 0 && index < hops.count { remote = hops[index] }
            }
            if !head.headers.contains("x-forwarded-proto") { head.headers.addLowercased("x-forwarded-proto", scheme) }
        }
        return (remote, edge)
    }

    /// A random version-4 UUID in lower-case hex, as Envoy generates for x-request-id.
    static func uuid(_ random: inout FastRandom) -> String {
        let a = random.next(), b = random.next()
        let hi = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let lo = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { out in
            var n = 0
            func put(_ v: UInt64, _ digits: Int) {
                for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
                    out[n] = hex[Int((v >> UInt64(shift)) & 0xF)]
                    n += 1
                }
            }
            put(hi >> 32, 8); out[n] = 0x2D; n += 1
            put((hi >> 16) & 0xFFFF, 4); out[n] = 0x2D; n += 1
            put(hi & 0xFFFF, 4); out[n] = 0x2D; n += 1
            put(lo >> 48, 4); out[n] = 0x2D; n += 1
            put(lo & 0xFFFF_FFFF_FFFF, 12)
            return n
        }
    }
}
