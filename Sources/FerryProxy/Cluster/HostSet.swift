import FerryConfig
import NIOCore

/// One upstream endpoint. Immutable but for its shared `health`; a DNS refresh that changes
/// the addresses creates new host objects.
public final class UpstreamHost: Sendable {
    public let address: NIOCore.SocketAddress
    /// "127.0.0.1:8080", the key of its connection pools and how logs and `/clusters` name it.
    public let addressString: String
    /// Name used for `auto_host_rewrite`: the DNS name or the endpoint's `hostname`.
    public let hostname: String
    public let weight: UInt32
    public let priority: Int
    public let locality: Locality
    /// Why the host is out of rotation, if it is; shared by every loop.
    public let health: HostHealth
    /// `health_check_config`: where active health checks go (nil: the host's own address).
    public let healthCheckPort: Int?
    public let activeHealthCheckDisabled: Bool
    /// When the host joined its cluster (monotonic), for slow start.
    public let createdAt: NIODeadline

    public init(address: NIOCore.SocketAddress, hostname: String, weight: UInt32, priority: Int, locality: Locality,
                health: HostHealth.Flags = [], healthCheckPort: Int? = nil, activeHealthCheckDisabled: Bool = false) {
        self.health = HostHealth(health)
        self.healthCheckPort = healthCheckPort
        self.activeHealthCheckDisabled = activeHealthCheckDisabled
        createdAt = .now()
        self.address = address
        self.addressString = UpstreamHost.format(address)
        self.hostname = hostname
        self.weight = weight
        self.priority = priority
        self.locality = locality
    }

    static func format(_ address: NIOCore.SocketAddress) -> String {
        let ip = address.ipAddress ?? "?"
        let port = address.port ?? 0
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// A cluster's endpoints grouped by priority and locality, as load balancers see them.
public struct HostSet: Sendable {
    public struct LocalityGroup: Sendable {
        public let locality: Locality
        /// nil when the locality has no load_balancing_weight.
        public let weight: UInt32?
        /// Indices into the priority's `hosts`.
        public let hostIndices: [Int]
    }

    public struct Priority: Sendable {
        public let hosts: [UpstreamHost]
        public let localities: [LocalityGroup]
    }

    public let priorities: [Priority]
    public let overprovisioningFactor: Int
    public let localityWeighted: Bool

    public var allHosts: [UpstreamHost] { priorities.flatMap(\.hosts) }
    public var count: Int { priorities.reduce(0) { $0 + $1.hosts.count } }

    public static let empty = HostSet(priorities: [], overprovisioningFactor: 140, localityWeighted: false)

    public init(priorities: [Priority], overprovisioningFactor: Int, localityWeighted: Bool) {
        self.priorities = priorities
        self.overprovisioningFactor = overprovisioningFactor
        self.localityWeighted = localityWeighted
    }

    /// Groups `(host, locality weight)` entries into priorities and localities.
    public init(hosts: [(UpstreamHost, UInt32?)], overprovisioningFactor: Int, localityWeighted: Bool) {
        let maxPriority = hosts.map(\.0.priority).max() ?? -1
        var priorities: [Priority] = []
        if maxPriority >= 0 {
            for p in 0...maxPriority {
                let members = hosts.filter { $0.0.priority == p }
                var groups: [LocalityGroup] = []
                var order: [Locality] = []
                var byLocality: [Locality: (UInt32?, [Int])] = [:]
                for (i, (host, weight)) in members.enumerated() {
                    if byLocality[host.locality] == nil { order.append(host.locality); byLocality[host.locality] = (weight, []) }
                    byLocality[host.locality]!.1.append(i)
                }
                for locality in order {
                    let (weight, indices) = byLocality[locality]!
                    groups.append(LocalityGroup(locality: locality, weight: weight, hostIndices: indices))
                }
                priorities.append(Priority(hosts: members.map(\.0), localities: groups))
            }
        }
        self.init(priorities: priorities, overprovisioningFactor: overprovisioningFactor, localityWeighted: localityWeighted)
    }
}
