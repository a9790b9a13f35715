/// Isolation for one dependency: at most `maxConcurrent` requests inside, at most `maxQueue`
/// waiting outside in arrival order, none waiting longer than `maxWait`. Pure bookkeeping: the
/// caller parks a queued request under its ticket and acts on what the bulkhead returns.
///
/// - `tryEnter`: `admitted` while a place is free, else `queued(ticket)` while the queue has room,
///   else `rejected`.
/// - `leave`: a request inside is done; its place goes to the oldest waiter whose wait has not run
///   out (returned: the caller lets it in), or is freed when there is none. A place is never free
///   while a waiter could take it, so a newcomer cannot overtake the queue.
/// - `expire`: returns, oldest first, the waiters whose wait has reached `maxWait`; the caller
///   refuses them (call it at `nextDeadline`). Until then they still hold their queue places.
/// - `cancel`: a waiter gave up (its client went away).
///
/// Tickets are numbered in arrival order, so the queue finds a ticket by subtraction; cancelled
/// or already admitted waiters stay as tombstones until they reach the front.
public struct Bulkhead: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maxConcurrent: Int
        public var maxQueue: Int
        public var maxWait: Duration

        public init(maxConcurrent: Int, maxQueue: Int = 0, maxWait: Duration = .zero) {
            precondition(maxConcurrent >= 0 && maxQueue >= 0, "limits must not be negative")
            precondition(maxQueue == 0 || maxWait > .zero, "a queue needs a positive maxWait")
            self.maxConcurrent = maxConcurrent
            self.maxQueue = maxQueue
            self.maxWait = maxWait
        }
    }

    /// A queued request's place in line.
    public struct Ticket: Hashable, Sendable {
        public let number: UInt64
    }

    public enum Admission: Hashable, Sendable {
        case admitted
        case queued(Ticket)
        case rejected
    }

    private static let tombstone = Int64.min

    public let configuration: Configuration
    private let maxWait: Int64
    /// Requests inside.
    public private(set) var occupancy = 0
    /// Waiters in the queue, including those whose wait ran out but were not expired yet.
    public private(set) var queueDepth = 0
    /// When each waiter arrived, from the front of the line; `tombstone` for a gap.
    private var arrivals = FIFO<Int64>()
    /// The ticket number of `arrivals[0]`.
    private var frontTicket: UInt64 = 0

    public init(configuration: Configuration) {
        self.configuration = configuration
        maxWait = configuration.maxWait.wholeNanoseconds
    }

    public mutating func tryEnter(now: Duration) -> Admission {
        if occupancy < configuration.maxConcurrent {
            occupancy += 1
            return .admitted
        }
        guard queueDepth < configuration.maxQueue else { return .rejected }
        let ticket = Ticket(number: frontTicket + UInt64(arrivals.count))
        arrivals.append(now.wholeNanoseconds)
        queueDepth += 1
        return .queued(ticket)
    }

    /// A request inside is done. Returns the waiter that takes its place, if any.
    public mutating func leave(now: Duration) -> Ticket? {
        guard occupancy > 0 else { return nil }
        let t = now.wholeNanoseconds
        dropFrontTombstones()
        var offset = 0
        while offset < arrivals.count {
            let arrival = arrivals[offset]
            if arrival != Self.tombstone && t - arrival < maxWait {
                arrivals[offset] = Self.tombstone
                queueDepth -= 1
                let ticket = Ticket(number: frontTicket + UInt64(offset))
                dropFrontTombstones()
                return ticket
            }
            offset += 1
        }
        occupancy -= 1
        return nil
    }

    /// Removes and returns the waiters whose wait has reached `maxWait` at `now`, oldest first.
    public mutating func expire(now: Duration) -> [Ticket] {
        let t = now.wholeNanoseconds
        var expired: [Ticket] = []
        while let arrival = arrivals.first, arrival == Self.tombstone || t - arrival >= maxWait {
            if arrival != Self.tombstone {
                expired.append(Ticket(number: frontTicket))
                queueDepth -= 1
            }
            arrivals.removeFirst()
            frontTicket += 1
        }
        return expired
    }

    /// Takes a waiter out of the queue; false if it is not waiting (admitted, expired, unknown).
    @discardableResult
    public mutating func cancel(_ ticket: Ticket) -> Bool {
        guard ticket.number >= frontTicket, ticket.number - frontTicket < UInt64(arrivals.count) else { return false }
        let offset = Int(ticket.number - frontTicket)
        guard arrivals[offset] != Self.tombstone else { return false }
        arrivals[offset] = Self.tombstone
        queueDepth -= 1
        dropFrontTombstones()
        return true
    }

    /// When the oldest waiter's wait runs out; nil with nobody waiting.
    public var nextDeadline: Duration? {
        var offset = 0
        while offset < arrivals.count {
            if arrivals[offset] != Self.tombstone { return .nanoseconds(saturatingAdd(arrivals[offset], maxWait)) }
            offset += 1
        }
        return nil
    }

    private mutating func dropFrontTombstones() {
        while arrivals.first == Self.tombstone {
            arrivals.removeFirst()
            frontTicket += 1
        }
    }
}
