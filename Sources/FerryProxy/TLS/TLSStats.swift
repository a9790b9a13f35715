import FerryTelemetry

/// Envoy's `ssl.*` counters of one listener (`listener.<name>.ssl.*`) or cluster (`cluster.<name>.ssl.*`).
struct TLSStats: Sendable {
    let handshake, connectionError, failVerifySAN, failVerifyNoCert, failVerifyError, noCertificate: CounterID

    init(_ key: (String) -> StatKey, store: StatsStore) {
        func c(_ name: String) -> CounterID { store.counter(key("ssl." + name)) }
        handshake = c("handshake")
        connectionError = c("connection_error")
        failVerifySAN = c("fail_verify_san")
        failVerifyNoCert = c("fail_verify_no_cert")
        failVerifyError = c("fail_verify_error")
        noCertificate = c("no_certificate")
    }

    /// The counters a failed handshake adds to, as Envoy: `connection_error` for every TLS
    /// failure, plus the verification step that refused the peer.
    func failure(_ error: any Error) -> [CounterID] {
        if error is SubjectAltNameMismatch { return [connectionError, failVerifySAN] }
        let text = "\(error)"
        if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || text.contains("CERTIFICATE_REQUIRED") {
            return [connectionError, failVerifyNoCert]
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return [connectionError, failVerifyError] }
        return [connectionError]
    }
}

/// The peer's certificate is trusted but none of its SANs matches the configured matchers.
struct SubjectAltNameMismatch: Error, CustomStringConvertible {
    var description: String { "the peer certificate's subject alternative names match no configured matcher" }
}
