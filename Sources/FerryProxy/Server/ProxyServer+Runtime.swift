import FerryConfig
import NIOCore

/// The layered runtime's run-time layers: disk layers polled on the control loop (the admin
/// layer, `/runtime_modify`, is `modifyRuntime`).
extension ProxyServer {
    /// Disk layer values of the current generation, by layer name (for `/runtime`).
    public var runtimeDiskValues: [String: [String: String]] { runtimeDisk.values }

    /// Starts the once-a-second disk layer poll on the control loop.
    func startRuntimePolling() {
        runtimeDisk.start(on: mainGroup.next(), every: .seconds(1)) { [weak self] in self?.pollRuntimeDisk() }
    }

    /// Re-reads the disk layers; a change goes to every worker.
    func pollRuntimeDisk() {
        let current = generation
        guard let values = runtimeDisk.poll(current, logger: logger) else { return }
        logger.info("runtime disk layers changed: \(values.values.reduce(0) { $0 + $1.count }) keys")
        for w in workers { w.eventLoop.execute { w.value.setRuntimeDisk(values, generation: current.id) } }
    }
}
