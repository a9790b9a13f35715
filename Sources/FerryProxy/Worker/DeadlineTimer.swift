import NIOCore

/// One scheduled callback for all of a connection's deadlines (idle, request headers, drain,
/// command timeouts): armed at the earliest one asked for and moved only when a nearer one
/// appears, so a busy connection reschedules nothing per request. The owner's callback checks
/// every deadline when it fires and arms again for the next.
struct DeadlineTimer {
    private var callback: NIOScheduledCallback?
    private var deadline: NIODeadline?

    /// `handler` runs at `deadline`, or earlier if it is already due earlier.
    mutating func arm(at deadline: NIODeadline, on loop: any EventLoop, handler: some NIOScheduledCallbackHandler) {
        if callback != nil, let current = self.deadline, current <= deadline { return }
        callback?.cancel()
        callback = try? loop.assumeIsolated().scheduleCallback(at: deadline, handler: handler)
        self.deadline = callback == nil ? nil : deadline
    }

    /// The callback ran: nothing is scheduled any more.
    mutating func fired() {
        callback = nil
        deadline = nil
    }

    /// Unschedules it, letting go of the handler it holds.
    mutating func cancel() {
        callback?.cancel()
        fired()
    }
}
