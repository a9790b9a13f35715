import Atomics
import FerryTelemetry

/// Process-wide flags read on every loop: readiness for `/ready`, the `/healthcheck/fail`
/// switch, and counters that must be unique across loops. Plain atomics, read with relaxed
/// ordering: they change rarely and tolerate a moment's lag.
public final class ServerState: Sendable {
    public enum Phase: Int, Sendable {
        case initializing = 0, live = 1, draining = 2, preInitializing = 3
        public var envoyName: String {
            switch self {
            case .initializing: "INITIALIZING"
            case .live: "LIVE"
            case .draining: "DRAINING"
            case .preInitializing: "PRE_INITIALIZING"
            }
        }
    }

    private let phaseValue = ManagedAtomic<Int>(Phase.initializing.rawValue)
    private let healthCheckFailedValue = ManagedAtomic<Bool>(false)
    private let connectionIDs = ManagedAtomic<UInt64>(0)
    /// Monotonic start, for `server.uptime`.
    public let startUptimeNanos: UInt64
    /// Wall-clock start in seconds since 1970.
    public let startWallSeconds: Int64

    public init(startUptimeNanos: UInt64, startWallSeconds: Int64) {
        self.startUptimeNanos = startUptimeNanos
        self.startWallSeconds = startWallSeconds
    }

    public var phase: Phase {
        get { Phase(rawValue: phaseValue.load(ordering: .relaxed)) ?? .live }
        set { phaseValue.store(newValue.rawValue, ordering: .relaxed) }
    }

    public var isDraining: Bool { phase == .draining }

    /// The state Envoy reports (`/ready`, `/server_info`, `server.state`, `server.live`): a
    /// failed health check (`/healthcheck/fail`) reads as DRAINING, as in Envoy 1.40, though
    /// listeners keep serving.
    public var reportedPhase: Phase {
        let phase = self.phase
        return phase == .live && healthCheckFailed ? .draining : phase
    }

    public var healthCheckFailed: Bool {
        get { healthCheckFailedValue.load(ordering: .relaxed) }
        set { healthCheckFailedValue.store(newValue, ordering: .relaxed) }
    }

    public func nextConnectionID() -> UInt64 { connectionIDs.loadThenWrappingIncrement(ordering: .relaxed) }

    // A graceful listener drain (`/drain_listeners?graceful`): while it lasts, responses close
    // their connection with a probability growing from 0 to 1 over the drain time, as Envoy's
    // gradual drain does, so clients move away without a burst of reconnects.
    private let gracefulStartNanos = ManagedAtomic<UInt64>(0)
    private let gracefulLengthNanos = ManagedAtomic<UInt64>(0)
    private let gracefulInboundOnlyValue = ManagedAtomic<Bool>(false)

    func startGracefulDrain(atUptimeNanos start: UInt64, lengthNanos: UInt64, inboundOnly: Bool) {
        gracefulInboundOnlyValue.store(inboundOnly, ordering: .relaxed)
        gracefulLengthNanos.store(max(lengthNanos, 1), ordering: .relaxed)
        gracefulStartNanos.store(max(start, 1), ordering: .relaxed)
    }

    /// The chance (0...1) that a response on a listener going `inbound` or not should close its
    /// connection now; 0 when no graceful drain runs.
    func gracefulCloseChance(nowUptimeNanos now: UInt64, inbound: Bool) -> Double {
        let start = gracefulStartNanos.load(ordering: .relaxed)
        guard start != 0, inbound || !gracefulInboundOnlyValue.load(ordering: .relaxed) else { return 0 }
        let length = gracefulLengthNanos.load(ordering: .relaxed)
        return now <= start ? 0 : min(1, Double(now - start) / Double(length))
    }
}
