import NIOCore

/// A connection whose flushes wait for the end of the worker's event-loop iteration.
protocol DeferredFlushing: AnyObject {
    /// True while the connection is in the worker's flush list (set and cleared by the worker).
    var flushQueued: Bool { get set }
    /// Puts what was written on the wire (`context.flush()`).
    func flushNow()
}

extension DeferredFlushing {
    /// Flushes at the end of `worker`'s event-loop iteration; at once without a worker (an
    /// upstream connection not, or no longer, in a pool).
    func flush(atEndOfIterationOf worker: Worker?) {
        if let worker { worker.flushAtEndOfIteration(self) } else { flushNow() }
    }
}

extension Worker {
    /// Flushes `connection` once the event loop has handled every I/O event it woke for.
    ///
    /// Flushing at once would make one `write` per response and per upstream request, each
    /// waking its peer (the client, the backend) separately; on a busy worker the peer is then
    /// woken up to once per request, and in a VM each of those wake-ups is an inter-processor
    /// interrupt that costs microseconds. Flushed together after the iteration's reads, the
    /// writes reach a peer that is still awake from the first of them. Writes (and their
    /// order) are unchanged; only the flush moves, and never past the current iteration.
    func flushAtEndOfIteration(_ connection: DeferredFlushing) {
        guard !connection.flushQueued else { return }
        connection.flushQueued = true
        pendingFlushes.append(connection)
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.assumeIsolated().execute { [self] in flushPending() }
    }

    private func flushPending() {
        flushScheduled = false
        var flushing = pendingFlushes
        pendingFlushes = spareFlushList
        spareFlushList = []
        for connection in flushing {
            connection.flushQueued = false
            connection.flushNow()
        }
        flushing.removeAll(keepingCapacity: true)
        spareFlushList = flushing
    }
}
