import FerryProxy
import FerryTelemetry

extension ProxyHarness {
    /// A counter or gauge read in-process from the workers' merged stats; nil when the stat does
    /// not exist. Unlike `stat(_:)` it launches no curl process, so tests that read many stats
    /// do not queue behind (or delay) other tests' curl launches.
    public func localStat(_ name: String) async -> Int? {
        let view = await server.statsView()
        if let counter = view.counter(named: name) { return Int(counter) }
        if let gauge = view.gauge(named: name) { return Int(gauge) }
        return nil
    }
}
