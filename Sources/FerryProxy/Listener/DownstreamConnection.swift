/// An open downstream connection as its worker tracks it: for draining and connection counts.
protocol DownstreamConnection: AnyObject {
    /// The listener that accepted it.
    var listenerName: String { get }
    /// Drain: close now if no request is in flight, else once it is done.
    func closeIfIdle()
}
