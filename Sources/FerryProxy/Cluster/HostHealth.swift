import Atomics

/// One endpoint's health, shared by every worker loop: why it is out of rotation, if it is.
/// Written rarely (by the health checker, the outlier detector, a config's `health_status`),
/// read by the loops when they rebuild their balancers; each change bumps the cluster's
/// `ClusterResources.healthVersion` so that the loops notice.
public final class HostHealth: Sendable {
    /// Envoy's host health flags, as `/clusters` prints them.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Failed active health checking (`/failed_active_hc`).
        public static let failedActiveHealthCheck = Flags(rawValue: 1 << 0)
        /// Ejected by outlier detection (`/failed_outlier_check`).
        public static let failedOutlierCheck = Flags(rawValue: 1 << 1)
        /// The endpoint's `health_status` in the config is UNHEALTHY, DRAINING or TIMEOUT (`/failed_eds_health`).
        public static let failedEDSHealth = Flags(rawValue: 1 << 2)
        /// Not yet checked once while `ignore_new_hosts_until_first_hc` is set (`/pending_active_hc`).
        public static let pendingActiveHealthCheck = Flags(rawValue: 1 << 3)

        /// Envoy's `/clusters` spelling: `healthy`, or the failing reasons joined.
        public var envoyDescription: String {
            if isEmpty { return "healthy" }
            var parts: [String] = []
            if contains(.failedActiveHealthCheck) { parts.append("/failed_active_hc") }
            if contains(.failedOutlierCheck) { parts.append("/failed_outlier_check") }
            if contains(.failedEDSHealth) { parts.append("/failed_eds_health") }
            if contains(.pendingActiveHealthCheck) { parts.append("/pending_active_hc") }
            return parts.joined()
        }
    }

    private let bits: ManagedAtomic<UInt32>

    public init(_ initial: Flags = []) { bits = ManagedAtomic(initial.rawValue) }

    public var flags: Flags { Flags(rawValue: bits.load(ordering: .relaxed)) }
    public var isHealthy: Bool { bits.load(ordering: .relaxed) == 0 }

    /// Sets `flag`; true when that changed anything.
    @discardableResult
    public func set(_ flag: Flags) -> Bool {
        bits.loadThenBitwiseOr(with: flag.rawValue, ordering: .relaxed) & flag.rawValue != flag.rawValue
    }

    /// Clears `flag`; true when that changed anything.
    @discardableResult
    public func clear(_ flag: Flags) -> Bool {
        bits.loadThenBitwiseAnd(with: ~flag.rawValue, ordering: .relaxed) & flag.rawValue != 0
    }
}
