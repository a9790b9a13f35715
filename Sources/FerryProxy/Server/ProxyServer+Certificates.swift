import NIOCore

/// TLS certificate rotation: the files of every transport socket of the current generation
/// are checked on the control loop every `certificatePollInterval` (one `stat` per file); a
/// changed set is loaded and serves the handshakes that follow (`ReloadableTLSContext`).
extension ProxyServer {
    static let certificatePollInterval = TimeAmount.seconds(2)

    func startCertificatePolling() {
        mainGroup.next().scheduleRepeatedTask(initialDelay: Self.certificatePollInterval, delay: Self.certificatePollInterval) {
            [weak self] _ in self?.pollCertificates()
        }
    }

    func pollCertificates() {
        for context in generation.tlsContexts {
            switch context.reloadIfChanged() {
            case .unchanged: break
            case .reloaded: logger.info("TLS certificates of \(context.owner) reloaded")
            case .failed(let reason): logger.warning("TLS certificates of \(context.owner) changed but cannot be loaded, keeping the previous ones: \(reason)")
            }
        }
    }
}

extension ConfigGeneration {
    /// Every TLS context of this generation (filter chains' and clusters'), for rotation.
    var tlsContexts: [ReloadableTLSContext] {
        listeners.flatMap { $0.chains.compactMap { $0.tls?.context } }
            + clusters.flatMap { [$0.tls?.context, $0.tls?.healthCheckContext].compactMap { $0 } }
    }
}
