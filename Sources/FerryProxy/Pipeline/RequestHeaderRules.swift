import FerryConfig
import FerryPolicy
import NIOCore

/// Envoy's request header handling in the connection manager: hop-by-hop removal,
/// x-forwarded-for/-proto, internal vs edge requests, x-request-id.
enum RequestHeaderRules {
    /// Headers Envoy removes from every request that is not internal (edge or not), so a client
    /// cannot steer retries, timeouts or tracing (Envoy's `cleanInternalHeaders`).
    static let internalOnlyEnvoyHeaders: [String] = [
        "x-envoy-internal", "x-envoy-expected-rq-timeout-ms", "x-envoy-force-trace", "x-envoy-max-retries",
        "x-envoy-retry-grpc-on", "x-envoy-retry-on", "x-envoy-upstream-alt-stat-name",
        "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
        "x-envoy-upstream-rq-timeout-ms", "x-envoy-hedge-on-per-try-timeout", "x-envoy-ip-tags", "x-envoy-original-url",
        "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
    ]

    /// Headers Envoy removes only from edge requests (use_remote_address and not internal);
    /// x-envoy-external-address is then set to the trusted client address.
    static let edgeOnlyEnvoyHeaders: [String] = [
        "x-envoy-decorator-operation", "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node",
        "x-envoy-original-path", "x-envoy-external-address",
    ]

    /// The address appended to x-forwarded-for for a loopback peer: Envoy appends the host's own
    /// first non-loopback IPv4 address there (its `local_info` address), not 127.0.0.1.
    static let hostAddress: String = {
        let devices = (try? System.enumerateDevices()) ?? []
        for device in devices {
            if case .v4? = device.address, let ip = device.address?.ipAddress, !ip.hasPrefix("127.") { return ip }
        }
        return "127.0.0.1"
    }()

    static let hopByHopFields = ["keep-alive", "proxy-connection"]
    static let hopByHopFieldsAndUpgrade = hopByHopFields + ["upgrade"]

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
        headers.remove(anyOf: upgrade == nil ? hopByHopFieldsAndUpgrade : hopByHopFields)
        if let te = headers.joined("te") {
            if headerValue(te, containsToken: "trailers") { headers.setLowercased("te", "trailers") } else { headers.remove("te") }
        }
        return upgrade
    }

    /// Envoy's `getLastAddressFromXFF`: the address `skipping` entries from the right of
    /// x-forwarded-for, and whether the header held a single address; nil when there are too
    /// few entries or the chosen one is not an IP address.
    static func addressFromXFF(_ xff: String, skipping: Int) -> (address: String, single: Bool)? {
        let hops = xff.split(separator: ",", omittingEmptySubsequences: false)
        let index = hops.count - 1 - skipping
        guard index >= 0 else { return nil }
        let candidate = hops[index].trimmingSpaces()
        guard IPAddressBytes(candidate) != nil else { return nil }
        return (String(candidate), hops.count == 1)
    }

    /// Applies x-forwarded-for / -proto and Envoy's internal/edge rules (Envoy 1.40's
    /// `mutateRequestHeaders`); returns the downstream address Envoy would log as
    /// `%DOWNSTREAM_REMOTE_ADDRESS%` and whether the request is an edge request.
    ///
    /// - With use_remote_address, the trusted client address is the peer, or with
    ///   xff_num_trusted_hops N the Nth x-forwarded-for entry from the right; the request can be
    ///   internal only if it arrived without x-forwarded-for.
    /// - Without it, the client address is taken from x-forwarded-for (skipping N entries); the
    ///   request can be internal only if that header held a single address.
    /// - Internal means that address lies in `internal_address_config` (empty by default).
    static func applyForwarding(_ head: inout RequestHead, hcm settings: ForwardingSettings, peerIP: String?, scheme: String,
                                localPort: Int? = nil, localAddress: String = hostAddress) -> (remote: String?, edge: Bool)
    {
        var remote: String?
        var trustedChecks = false
        let xff = head.headers.joined("x-forwarded-for")
        if settings.useRemoteAddress {
            trustedChecks = xff == nil
            if settings.xffNumTrustedHops > 0, let xff {
                remote = addressFromXFF(xff, skipping: Int(settings.xffNumTrustedHops) - 1)?.address
            }
            if remote == nil { remote = peerIP }
            if !settings.skipXffAppend, let peerIP {
                let appended = IPAddressBytes(peerIP)?.isLoopback == true ? localAddress : peerIP
                if let xff {
                    head.headers.setLowercased("x-forwarded-for", xff + "," + appended)
                } else {
                    head.headers.addLowercased("x-forwarded-for", appended)
                }
            }
            if settings.xffNumTrustedHops == 0 { head.headers.setLowercased("x-forwarded-proto", scheme) }
            // append_x_forwarded_port: the port the client connected to, unless a trusted hop set it.
            if settings.appendXForwardedPort, settings.xffNumTrustedHops == 0 || !head.headers.contains("x-forwarded-port"),
               let localPort {
                head.headers.setLowercased("x-forwarded-port", String(localPort))
            }
        } else if let xff, let found = addressFromXFF(xff, skipping: Int(settings.xffNumTrustedHops)) {
            remote = found.address
            trustedChecks = found.single
        }
        if !head.headers.contains("x-forwarded-proto") { head.headers.addLowercased("x-forwarded-proto", scheme) }
        if let via = settings.via { appendVia(&head.headers, via) }
        let isInternal = trustedChecks && !settings.internalAddressConfig.cidrRanges.isEmpty
            && remote.flatMap(IPAddressBytes.init).map(settings.internalAddressConfig.isInternal) == true
        if remote == nil { remote = peerIP }
        let edge = !isInternal && settings.useRemoteAddress
        if isInternal {
            head.headers.setLowercased("x-envoy-internal", "true")
        } else {
            // All of them start with x-envoy-: one pass finds out whether there is anything to remove.
            if head.headers.containsName(withPrefix: "x-envoy-") {
                for name in internalOnlyEnvoyHeaders { head.headers.remove(name) }
                if edge { for name in edgeOnlyEnvoyHeaders { head.headers.remove(name) } }
            }
        }
        if edge, let remote, IPAddressBytes(remote) != nil { head.headers.addLowercased("x-envoy-external-address", remote) }
        return (remote, edge)
    }

    /// The connection manager's settings `applyForwarding` reads, kept apart from the whole
    /// `HttpConnectionManager` so a request does not copy that struct to pass them.
    struct ForwardingSettings: Sendable {
        let useRemoteAddress: Bool
        let xffNumTrustedHops: UInt32
        let skipXffAppend: Bool
        let appendXForwardedPort: Bool
        let via: String?
        let internalAddressConfig: InternalAddressConfig

        init(_ hcm: HttpConnectionManager) {
            useRemoteAddress = hcm.useRemoteAddress
            xffNumTrustedHops = hcm.xffNumTrustedHops
            skipXffAppend = hcm.skipXffAppend
            appendXForwardedPort = hcm.appendXForwardedPort
            via = hcm.via
            internalAddressConfig = hcm.internalAddressConfig
        }
    }

    /// HCM `via`: appended to an existing Via field (", " separated) or added.
    static func appendVia(_ headers: inout HeaderMap, _ via: String) {
        if let existing = headers.joined("via") {
            headers.setLowercased("via", existing + ", " + via)
        } else {
            headers.addLowercased("via", via)
        }
    }

    /// A random version-4 UUID in lower-case hex, as Envoy generates for x-request-id.
    static func uuid(_ random: inout FastRandom) -> String {
        let a = random.next(), b = random.next()
        let hi = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let lo = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return String(unsafeUninitializedCapacity: 36) { out in
            var n = 0
            func put(_ v: UInt64, _ digits: Int) {
                for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
                    let d = UInt8(truncatingIfNeeded: (v >> UInt64(shift)) & 0xF)
                    out[n] = d < 10 ? 0x30 + d : 0x57 + d  // 0-9, a-f
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
