import NIOCore
import Testing

@testable import FerryProxy

/// Wire bytes of an ASCII/UTF-8 string, for building raw messages.
func wire(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A parser event in a form tests can compare exactly: header fields as `name: value` lines,
/// bodies as bytes.
enum Parsed: Equatable, CustomStringConvertible {
    struct Request: Equatable {
        var method: String
        var path: String
        var authority: String?
        var scheme = "http"
        var version: HTTPVersion = .http11
        var headers: [String] = []
    }

    struct Response: Equatable {
        var status: Int
        var reason: String?
        var version: HTTPVersion = .http11
        var headers: [String] = []
    }

    case request(Request)
    case response(Response)
    case body([UInt8])
    case end(trailers: [String]?)

    static let end = Parsed.end(trailers: nil)
    static func text(_ body: String) -> Parsed { .body(wire(body)) }

    init(_ event: HTTP1Parser.Event) {
        switch event {
        case .requestHead(let head):
            self = .request(
                Request(
                    method: head.method, path: head.path, authority: head.authority, scheme: head.scheme,
                    version: head.version, headers: head.headers.lines))
        case .responseHead(let head):
            self = .response(
                Response(
                    status: head.status, reason: head.reason, version: head.version,
                    headers: head.headers.lines))
        case .body(var slice):
            self = .body(slice.readBytes(length: slice.readableBytes) ?? [])
        case .end(let trailers):
            self = .end(trailers: trailers?.lines)
        }
    }

    var description: String {
        switch self {
        case .request(let r):
            "request(\(r.method) \(r.path) authority=\(r.authority ?? "nil") \(r.version) \(r.headers))"
        case .response(let r): "response(\(r.status) \(r.reason ?? "nil") \(r.version) \(r.headers))"
        case .body(let bytes): "body(\(String(decoding: bytes, as: UTF8.self).debugDescription))"
        case .end(let trailers): "end(\(trailers.map { "\($0)" } ?? "nil"))"
        }
    }
}

extension HeaderMap {
    var lines: [String] { entries.map { "\($0.name): \($0.value)" } }
}

/// Everything a parser made of one input: the events in order, the error that stopped it (if
/// any), the bytes it left unconsumed (including reads after a failure), and whether it stopped
/// making progress (a loop).
struct ParseOutcome: Equatable {
    var events: [Parsed] = []
    var error: HTTP1ParseError?
    var leftover: [UInt8] = []
    var looped = false

    /// Adjacent body events merged, so outcomes of differently split inputs compare equal.
    var coalesced: ParseOutcome {
        var copy = self
        copy.events = []
        for event in events {
            if case .body(let more) = event, case .body(let previous)? = copy.events.last {
                copy.events[copy.events.count - 1] = .body(previous + more)
            } else {
                copy.events.append(event)
            }
        }
        return copy
    }
}

/// Drives an `HTTP1Parser` the way the connection handlers do: bytes arrive in reads, and after
/// each read `next` is called until it asks for more; the first error ends the connection.
struct ParserDriver {
    var role: HTTP1Parser.Role = .server
    var limits = HTTP1Parser.Limits()
    /// Client role: the method of the request being answered.
    var requestMethod = "GET"

    /// Parses `input` delivered in reads of `readSize` bytes (all at once when nil); with
    /// `endOfInput` the peer closes the connection after the last read.
    func run(_ input: [UInt8], readSize: Int? = nil, endOfInput: Bool = false) -> ParseOutcome {
        let size = max(1, readSize ?? input.count)
        let reads = stride(from: 0, to: max(input.count, 1), by: size).map {
            Array(input[$0..<min(input.count, $0 + size)])
        }
        return run(reads: reads, endOfInput: endOfInput)
    }

    /// Parses the given reads in order.
    func run(reads: [[UInt8]], endOfInput: Bool = false) -> ParseOutcome {
        var parser = HTTP1Parser(role: role, limits: limits)
        parser.pendingRequestMethod = requestMethod
        var outcome = ParseOutcome()
        var buffer = ByteBufferAllocator().buffer(capacity: reads.reduce(0) { $0 + $1.count })
        var delivered = 0
        for read in reads {
            buffer.writeBytes(read)
            delivered += 1
            if !drain(&parser, &buffer, into: &outcome) { break }
        }
        // Reads that never reached the parser count as unconsumed too.
        for read in reads[delivered...] { buffer.writeBytes(read) }
        if endOfInput && outcome.error == nil && !outcome.looped {
            do {
                if let event = try parser.endOfInput() { outcome.events.append(Parsed(event)) }
            } catch {
                outcome.error = error
            }
        }
        outcome.leftover = buffer.readBytes(length: buffer.readableBytes) ?? []
        return outcome
    }

    /// Calls `next` until it needs more bytes; false when the parser failed or looped.
    private func drain(_ parser: inout HTTP1Parser, _ buffer: inout ByteBuffer, into outcome: inout ParseOutcome)
        -> Bool
    {
        // An event that consumes nothing is legitimate once in a row (`.end` right after a
        // head without body); more than twice means the parser is spinning.
        var idleEvents = 0
        while true {
            let before = buffer.readableBytes
            let event: HTTP1Parser.Event?
            do {
                event = try parser.next(&buffer)
            } catch {
                outcome.error = error
                return false
            }
            guard let event else { return true }
            outcome.events.append(Parsed(event))
            idleEvents = buffer.readableBytes == before ? idleEvents + 1 : 0
            if idleEvents > 2 {
                outcome.looped = true
                return false
            }
        }
    }
}

/// Asserts that `input` is refused with exactly `status` and `detail` before any request head is
/// delivered, whether it arrives in one read or one byte at a time.
func expectRejectedHead(
    _ input: [UInt8], status: Int, detail: String, limits: HTTP1Parser.Limits = .init(),
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let driver = ParserDriver(limits: limits)
    for readSize in [nil, 1] as [Int?] {
        let outcome = driver.run(input, readSize: readSize)
        #expect(
            outcome.error == HTTP1ParseError(status: status, detail),
            "read size \(readSize.map(String.init) ?? "all")", sourceLocation: sourceLocation)
        #expect(outcome.events == [], "read size \(readSize.map(String.init) ?? "all")", sourceLocation: sourceLocation)
    }
}
