import FerryPolicy
import Testing

@testable import FerryProxy

/// Seeded, bounded robustness runs: random byte strings and mutated valid messages go through
/// the parser in both roles. Nothing may crash (a Swift trap is a crash) or spin; every run
/// ends in events, a request for more bytes, or an error with a proper status; and how the
/// bytes are split into reads must not change the outcome.
@Suite("HTTP/1 parser robustness")
struct ParserFuzzTests {
    static let statuses: Set<Int> = [400, 414, 431, 501, 505]

    static let tokens: [[UInt8]] = [
        "GET ", "POST ", "HEAD ", "CONNECT ", "OPTIONS * ", "/", "/a?b", "http://h/", " HTTP/1.1", " HTTP/1.0",
        "HTTP/1.1 ",
        "HTTP/1.1 200 OK", "HTTP/1.1 101 Switching Protocols", "HTTP/1.1 100 Continue", "HTTP/1.1 204 ", "\r\n", "\n",
        "\r\n\r\n", "Host: a", "Content-Length: ", "Transfer-Encoding: ", "chunked", "gzip, ", "0\r\n\r\n",
        "5\r\nhello\r\n",
        ";a=\"b\\\"c\"", " ; x = y", "ffffffffffffffff", "X-A: ", " folded", "trailer: t", "1,1", "\\",
    ].map { Array($0.utf8) }
    static let interestingBytes: [UInt8] = [
        0x00, 0x09, 0x0A, 0x0D, 0x20, 0x22, 0x2C, 0x3A, 0x3B, 0x3D, 0x5C, 0x7F, 0x80, 0xC3,
        0xFF, 0x30, 0x31, 0x61, 0x46, 0x78,
    ]

    static let corpus: [String] = [
        "GET /a?b=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
        "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: b\r\n\r\n",
        "PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;x=\"y\"\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
        "\r\nOPTIONS * HTTP/1.1\nHost: a\n\n",
        "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        "GET http://h.example:8080/p HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u{81}\u{05}hello",
        "HTTP/1.0 200 OK\r\n\r\nclose-delimited",
    ]

    /// Runs `input` whole, byte by byte and in random reads, and checks the invariants.
    func check(
        _ input: [UInt8], role: HTTP1Parser.Role, method: String, limits: HTTP1Parser.Limits = .init(),
        sameForAnySplit: Bool = true, random: inout FastRandom
    ) {
        let driver = ParserDriver(role: role, limits: limits, requestMethod: method)
        let endOfInput = role == .client
        let whole = driver.run(input, endOfInput: endOfInput)
        let trickled = driver.run(input, readSize: 1, endOfInput: endOfInput)
        var reads: [[UInt8]] = []
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + Int.random(in: 1...24, using: &random))
            reads.append(Array(input[offset..<end]))
            offset = end
        }
        let split = driver.run(reads: reads, endOfInput: endOfInput)
        for outcome in [whole, trickled, split] {
            #expect(!outcome.looped, "parser spun on \(input)")
            if let error = outcome.error {
                #expect(Self.statuses.contains(error.status), "status \(error.status) for \(input)")
                #expect(error.detail.hasPrefix("http1."), "detail \(error.detail)")
            }
            let bodyBytes = outcome.events.reduce(0) { if case .body(let b) = $1 { $0 + b.count } else { $0 } }
            #expect(bodyBytes + outcome.leftover.count <= input.count)
        }
        guard sameForAnySplit else { return }
        #expect(trickled.coalesced == whole.coalesced, "byte-by-byte differs for \(input)")
        #expect(split.coalesced == whole.coalesced, "split \(reads.map(\.count)) differs for \(input)")
    }

    @Test("a few thousand random byte strings never crash, spin or depend on read sizes")
    func randomBytes() {
        var random = FastRandom(seed: 0xF_E44_7)
        for _ in 0..<3000 {
            var input: [UInt8] = []
            let target = Int.random(in: 0..<200, using: &random)
            while input.count < target {
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<4: input += Self.tokens.randomElement(using: &random)!
                case 4..<8: input.append(Self.interestingBytes.randomElement(using: &random)!)
                default: input.append(UInt8.random(in: 0...255, using: &random))
                }
            }
            let role: HTTP1Parser.Role = Bool.random(using: &random) ? .server : .client
            check(input, role: role, method: Bool.random(using: &random) ? "GET" : "HEAD", random: &random)
        }
    }

    @Test("a few thousand mutations of valid messages never crash, spin or depend on read sizes")
    func mutatedMessages() {
        runMutations(3000, seed: 0xC0DEC, mutations: 1...4)
    }

    @Test("mutations under tiny header limits never crash or spin, and fail with a proper status")
    func tinyLimits() {
        // Read-size independence is not checked here: see HeaderLimitTests.withinLimitsAnySplit.
        let limits = HTTP1Parser.Limits(maxHeaderBytes: 48, maxHeaderCount: 3, maxRequestLineBytes: 24)
        runMutations(1000, seed: 0x11_A115, mutations: 0...3, limits: limits, sameForAnySplit: false)
    }

    /// Checks `count` mutants of the corpus messages, in turn, each with a random number of mutations.
    func runMutations(
        _ count: Int, seed: UInt64, mutations: ClosedRange<Int>, limits: HTTP1Parser.Limits = .init(),
        sameForAnySplit: Bool = true
    ) {
        var random = FastRandom(seed: seed)
        for round in 0..<count {
            let original = wire(Self.corpus[round % Self.corpus.count])
            var input = original
            for _ in 0..<Int.random(in: mutations, using: &random) { mutate(&input, random: &random) }
            let role: HTTP1Parser.Role = original.starts(with: wire("HTTP/")) ? .client : .server
            check(input, role: role, method: "GET", limits: limits, sameForAnySplit: sameForAnySplit, random: &random)
        }
    }

    @Test("every corpus message is valid before mutation")
    func corpusIsValid() {
        for message in Self.corpus {
            let role: HTTP1Parser.Role = message.hasPrefix("HTTP/") ? .client : .server
            let outcome = ParserDriver(role: role).run(wire(message), endOfInput: role == .client)
            #expect(outcome.error == nil, "\(message.debugDescription)")
            let ended = if case .end? = outcome.events.last { true } else { false }
            #expect(ended, "\(message.debugDescription)")
        }
    }

    func mutate(_ input: inout [UInt8], random: inout FastRandom) {
        guard !input.isEmpty else {
            input = Self.tokens.randomElement(using: &random)!
            return
        }
        let at = Int.random(in: 0..<input.count, using: &random)
        switch Int.random(in: 0..<7, using: &random) {
        case 0: input[at] = Self.interestingBytes.randomElement(using: &random)!
        case 1: input.insert(Self.interestingBytes.randomElement(using: &random)!, at: at)
        case 2: input.remove(at: at)
        case 3: input.insert(contentsOf: Self.tokens.randomElement(using: &random)!, at: at)
        case 4:
            let end = min(input.count, at + Int.random(in: 1...16, using: &random))
            input.insert(contentsOf: input[at..<end], at: end)
        case 5: input[at] = UInt8.random(in: 0...255, using: &random)
        default:
            // Turn the CRLF at or after `at` into a bare LF.
            if let cr = input[at...].firstIndex(of: 0x0D) { input.remove(at: cr) }
        }
    }
}
