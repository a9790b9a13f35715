import FerryConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The runtime disk layers (`layered_runtime.layers[].disk_layer`) of the running generation.
/// They are read at start and on every reload, before the workers install a generation, and
/// polled about once a second on the control loop; a change is pushed to the workers. Envoy
/// re-reads when `symlink_root` is moved to a new target (the usual deploy: a new tree, then
/// the symlink swapped); the poll sees that and also a file edited in place.
final class RuntimeDiskLayers: Sendable {
    private struct State {
        var generation = 0
        /// By layer name; a layer whose directory is missing (or unreadable) has no entry.
        var values: [String: [String: String]] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)

    /// The values of the generation last loaded or polled.
    var values: [String: [String: String]] { state.withLockedValue { $0.values } }

    /// Reads `generation`'s disk layers (before its workers install it) and keeps them as current.
    func load(_ generation: ConfigGeneration, logger: Logger) -> [String: [String: String]] {
        let (values, failures) = Self.read(generation.bootstrap)
        for failure in failures { logger.warning("\(failure)") }
        state.withLockedValue { state in
            if state.generation <= generation.id { state = State(generation: generation.id, values: values) }
        }
        return values
    }

    /// Reads `generation`'s disk layers again; returns the new values when they changed (nil
    /// when unchanged, or when a newer generation was loaded meanwhile). A layer that cannot be
    /// read is reported when that changes the values, not at every poll.
    func poll(_ generation: ConfigGeneration, logger: Logger) -> [String: [String: String]]? {
        guard !generation.bootstrap.runtime.diskLayers.isEmpty else { return nil }
        let (values, failures) = Self.read(generation.bootstrap)
        let changed = state.withLockedValue { state -> Bool in
            guard state.generation == generation.id, state.values != values else { return false }
            state.values = values
            return true
        }
        guard changed else { return nil }
        for failure in failures { logger.warning("\(failure)") }
        return values
    }

    func start(on loop: EventLoop, every interval: TimeAmount, _ body: @escaping @Sendable () -> Void) {
        let repeated = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in body() }
        task.withLockedValue { $0 = repeated }
    }

    func stop() {
        task.withLockedValue { task in
            task?.cancel()
            task = nil
        }
    }

    /// Every disk layer's values by name, and why a layer that could not be read is left out.
    static func read(_ bootstrap: Bootstrap) -> (values: [String: [String: String]], failures: [String]) {
        var result: [String: [String: String]] = [:]
        var failures: [String] = []
        for (name, layer) in bootstrap.runtime.diskLayers {
            let directory = layer.directory(serviceCluster: bootstrap.node.cluster)
            switch RuntimeDiskReader.scan(directory: directory) {
            case .missing: continue
            case .failed(let reason): failures.append("runtime disk layer \(name) (\(directory)) is left out: \(reason)")
            case .values(let values): result[name] = values
            }
        }
        return (result, failures)
    }
}
