/// Holds back a handler's `read()` while the stream it feeds cannot take more (downstream
/// backpressure), and says when the held read must go out. Shared by the upstream handlers and
/// the downstream HTTP/2 stream.
struct ReadGate {
    private var paused = false
    private var pending = false

    var isPaused: Bool { paused }

    mutating func pause() { paused = true }

    /// Whether a `read()` arriving now may pass; a held one is remembered.
    mutating func admit() -> Bool {
        if paused { pending = true }
        return !paused
    }

    /// Opens the gate; true when a read was held and must be issued now.
    mutating func resume() -> Bool {
        guard paused else { return false }
        paused = false
        defer { pending = false }
        return pending
    }
}
