import FerryPolicy
@testable import FerryProxy
import Testing

/// The TLS inspector's ClientHello reader: real hellos, every truncation, hellos split over
/// records, malformed and random input. Nothing may crash, and a prefix of a hello is never
/// mistaken for plaintext.
@Suite("TLS inspector: ClientHello parser")
struct ClientHelloParserTests {
    typealias Parser = ClientHelloParser

    @Test("openssl s_client's hello gives its SNI and ALPN list in the client's order")
    func openssl() {
        #expect(Parser.parse(ClientHelloFixtures.opensslSNIAndALPN)
                == .clientHello(ClientHello(serverName: "a.example.com", applicationProtocols: ["h2", "http/1.1"])))
    }

    @Test("curl's hello: the SNI is lower-cased, as Envoy compares it")
    func curl() throws {
        guard case .clientHello(let hello) = Parser.parse(ClientHelloFixtures.curlMixedCaseSNI) else {
            Issue.record("curl's hello was not recognised")
            return
        }
        #expect(hello.serverName == "shop.example.com")
        #expect(hello.applicationProtocols.contains("http/1.1"))
    }

    @Test("a TLS 1.2 hello without SNI or ALPN is TLS with neither")
    func withoutExtensions() {
        #expect(Parser.parse(ClientHelloFixtures.opensslWithoutSNI) == .clientHello(ClientHello(serverName: nil, applicationProtocols: [])))
    }

    @Test("every proper prefix of a real hello asks for more bytes", arguments: [
        ClientHelloFixtures.opensslSNIAndALPN, ClientHelloFixtures.curlMixedCaseSNI, ClientHelloFixtures.opensslWithoutSNI,
    ])
    func truncated(hello: [UInt8]) {
        for length in 0..<hello.count {
            let outcome = Parser.parse(Array(hello.prefix(length)))
            #expect(outcome == .needMoreBytes, "prefix of \(length) bytes: \(outcome)")
        }
    }

    /// The hello's handshake message re-cut into records of `size` bytes each.
    static func fragmented(_ hello: [UInt8], size: Int) -> [UInt8] {
        let message = Array(hello.dropFirst(5))
        var out: [UInt8] = []
        for start in stride(from: 0, to: message.count, by: size) {
            let piece = message[start..<min(start + size, message.count)]
            out += [0x16, 0x03, 0x01, UInt8(piece.count >> 8), UInt8(piece.count & 0xFF)] + piece
        }
        return out
    }

    @Test("a hello split over many handshake records (down to one byte each) is put back together")
    func fragmentedRecords() {
        for size in [1, 3, 7, 64, 200] {
            let bytes = Self.fragmented(ClientHelloFixtures.opensslSNIAndALPN, size: size)
            #expect(Parser.parse(bytes)
                    == .clientHello(ClientHello(serverName: "a.example.com", applicationProtocols: ["h2", "http/1.1"])), "size \(size)")
            #expect(Parser.parse(Array(bytes.dropLast())) == .needMoreBytes, "size \(size)")
        }
    }

    @Test("plaintext is recognised from its first bytes", arguments: ["GET / HTTP/1.1\r\n", "G", "SSH-2.0-OpenSSH\r\n", "\u{16}\u{02}"])
    func plaintext(text: String) {
        #expect(Parser.parse(Array(text.utf8)) == .notTLS)
    }

    @Test("a hello that claims more than 16 KiB is too large, and 16 KiB that never complete one are too")
    func tooLarge() {
        // A handshake header announcing 20000 bytes, in a record of its own.
        let huge: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x4E, 0x20]
        #expect(Parser.parse(huge) == .tooLarge)
        // Records of a hello just under the limit, but never finished: 16 KiB of valid prefix.
        var records: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x3F, 0x00]
        while records.count < Parser.maxBytes {
            records += [0x16, 0x03, 0x01, 0x01, 0x00] + [UInt8](repeating: 0, count: 256)
        }
        #expect(Parser.parse(records) == .tooLarge)
    }

    @Test("structural errors make it plaintext: other record or handshake types, bad lengths, repeated extensions")
    func malformed() {
        var hello = ClientHelloFixtures.opensslSNIAndALPN
        var alert = hello
        alert[0] = 0x15
        #expect(Parser.parse(alert) == .notTLS)
        var serverHello = hello
        serverHello[5] = 0x02
        #expect(Parser.parse(serverHello) == .notTLS)
        var emptyRecord: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x00]
        #expect(Parser.parse(emptyRecord) == .notTLS)
        emptyRecord = [0x16, 0x03, 0x01, 0x48, 0x01]  // a record longer than TLS allows
        #expect(Parser.parse(emptyRecord) == .notTLS)
        // The session id length (at 5 + 4 + 2 + 32) claims more than the body holds.
        hello[43] = 0xFF
        #expect(Parser.parse(hello) == .notTLS)
    }

    @Test("random bytes and random mutations of real hellos never crash or hang", .timeLimit(.minutes(1)))
    func fuzz() {
        var random = FastRandom(seed: 0x5eed)
        let seeds = [ClientHelloFixtures.opensslSNIAndALPN, ClientHelloFixtures.curlMixedCaseSNI, ClientHelloFixtures.opensslWithoutSNI]
        var outcomes: [String: Int] = [:]
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 4 == 0 {
                bytes = (0..<Int(random.next(below: 600))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if round % 8 == 0, !bytes.isEmpty { bytes[0] = 0x16 }
            } else {
                bytes = seeds[round % 3]
                for _ in 0...Int(random.next(below: 4)) {
                    bytes[Int(random.next(below: UInt64(bytes.count)))] = UInt8(truncatingIfNeeded: random.next())
                }
                if round % 5 == 0 { bytes = Array(bytes.prefix(Int(random.next(below: UInt64(bytes.count))))) }
            }
            let outcome = Parser.parse(bytes)
            outcomes["\(outcome)".prefix(8).description, default: 0] += 1
        }
        // The mutations reach every kind of outcome, so the parser's paths were all exercised.
        #expect(outcomes.count >= 3, "\(outcomes)")
    }
}
