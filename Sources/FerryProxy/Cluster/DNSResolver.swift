import FerryConfig
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Resolves host names with the system resolver (getaddrinfo) on a thread pool, so event
/// loops never block. Ferry-specific `hostOverrides` map names to addresses first (tests
/// point compose-style names such as `service1` at loopback with them).
public final class DNSResolver: Sendable {
    let threadPool: NIOThreadPool
    let overrides: [String: [String]]

    public init(threadPool: NIOThreadPool, overrides: [String: [String]] = [:]) {
        self.threadPool = threadPool
        self.overrides = overrides
    }

    /// Addresses of `host` for `port`, ordered by the lookup family's preference.
    public func resolve(_ host: String, port: Int, family: Cluster.DNSLookupFamily, on loop: EventLoop)
        -> EventLoopFuture<[NIOCore.SocketAddress]>
    {
        let overrides = self.overrides
        return threadPool.runIfActive(eventLoop: loop) {
            if let fixed = overrides[host.lowercased()] {
                return try fixed.map { try NIOCore.SocketAddress(ipAddress: $0, port: port) }
            }
            return try Self.getaddrinfo(host, port: port, family: family)
        }
    }

    static func getaddrinfo(_ host: String, port: Int, family: Cluster.DNSLookupFamily) throws -> [NIOCore.SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        switch family {
        case .v4Only: hints.ai_family = AF_INET
        case .v6Only: hints.ai_family = AF_INET6
        default: hints.ai_family = AF_UNSPEC
        }
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = Glibc.getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw DNSError(host: host, message: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var v4: [NIOCore.SocketAddress] = []
        var v6: [NIOCore.SocketAddress] = []
        var seen = Set<String>()
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            defer { cursor = info.pointee.ai_next }
            guard let addr = info.pointee.ai_addr else { continue }
            let address: NIOCore.SocketAddress
            switch info.pointee.ai_family {
            case AF_INET:
                address = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { NIOCore.SocketAddress($0.pointee, host: host) }
            case AF_INET6:
                address = addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { NIOCore.SocketAddress($0.pointee, host: host) }
            default:
                continue
            }
            let key = UpstreamHost.format(address)
            guard seen.insert(key).inserted else { continue }
            if address.protocol == .inet { v4.append(address) } else { v6.append(address) }
        }
        switch family {
        case .auto: return v6.isEmpty ? v4 : v6
        case .v4Preferred: return v4.isEmpty ? v6 : v4
        case .v4Only: return v4
        case .v6Only: return v6
        case .all: return v4 + v6
        }
    }
}

public struct DNSError: Error, CustomStringConvertible, Sendable {
    public var host: String
    public var message: String
    public var description: String { "cannot resolve \(host): \(message)" }
}
