import Testing

@testable import FerryGRPC

@Suite("JSON parser and writer")
struct JSONTextTests {
    @Test("parses every kind of value, keeping number text and member order")
    func parses() throws {
        let v = try JSONParser.parse(#" { "b": [1, -0.5e+3, true, false, null], "a": "x\u00e9\ud83d\ude00\n\/", "n": 12345678901234567890 } "#.bytes)
        #expect(v == .object([
            ("b", .array([.number("1"), .number("-0.5e+3"), .bool(true), .bool(false), .null])),
            ("a", .string("xé😀\n/")),
            ("n", .number("12345678901234567890")),
        ]))
    }

    @Test("rejects what RFC 8259 does not allow", arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "'a'", "\"\\x\"",
        "\"a", "\"\u{01}\"", "\"\\ud800\"", "\"\\udc00\"", "{\"a\" 1}", "[1 2]", "1 2", "{a:1}", "NaN", "Infinity", "[1]]",
    ])
    func rejects(text: String) {
        #expect(throws: TranscodingError.self) { try JSONParser.parse(text.bytes) }
    }

    @Test("rejects invalid UTF-8 inside strings")
    func rejectsBadUTF8() {
        #expect(throws: TranscodingError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("nesting deeper than the limit is an error, not a stack overflow")
    func depthLimit() throws {
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try JSONParser.parse(ok.bytes)
        let deep = String(repeating: "[", count: 100_000)
        let error = #expect(throws: TranscodingError.self) { try JSONParser.parse(deep.bytes) }
        #expect(error?.message.contains("nesting deeper than 100") == true)
    }

    @Test("writes compact JSON with escapes")
    func writesCompact() {
        let v = JSONValue.object([("a\"", .string("x\n\t\u{01}é\\")), ("b", .array([.number("1"), .null]))])
        #expect(JSONWriter.serialize(v).text == #"{"a\"":"x\n\t\u0001é\\","b":[1,null]}"#)
    }

    @Test("escapes what protobuf's C++ printer (Envoy) escapes: <, >, C1 controls, invisible and bidi code points")
    func escapesLikeEnvoy() {
        // Expected text taken from Envoy 1.40's transcoder output for the same string.
        let s = "<>&'=/\u{7F}\u{80}\u{9F}\u{A0}\u{AD}\u{603}\u{604}\u{6DD}\u{70F}\u{17B4}\u{17B6}\u{200F}\u{2010}\u{202E}\u{202F}"
            + "\u{2060}\u{2064}\u{2065}\u{206A}\u{206F}\u{FEFF}\u{FFF9}\u{FFFB}\u{FFFC}\u{E0001}\u{E0020}\u{E007F}\u{E0080}😀é"
        let expected = #""\u003c\u003e&'=/\u007f\u0080\u009f\#u{A0}\u00ad\u0603\#u{604}\u06dd\u070f\u17b4\#u{17B6}\u200f\#u{2010}\u202e\#u{202F}"#
            + #"\u2060\u2064\#u{2065}\u206a\u206f\ufeff\ufff9\ufffb\#u{FFFC}\udb40\udc01\udb40\udc20\udb40\udc7f\#u{E0080}😀é""#
        #expect(JSONWriter.serialize(.string(s)).text == expected)
    }

    @Test("add_whitespace indents one space per level as protobuf's C++ printer")
    func writesWhitespace() {
        let v = JSONValue.object([("a", .object([("b", .array([.number("1"), .number("2")]))])), ("e", .object([])), ("l", .array([]))])
        #expect(JSONWriter.serialize(v, whitespace: true).text == "{\n \"a\": {\n  \"b\": [\n   1,\n   2\n  ]\n },\n \"e\": {},\n \"l\": []\n}\n")
    }

    @Test("random bytes never crash the parser")
    func fuzz() {
        var rng = SplitMix(seed: 42)
        let alphabet = Array("{}[]\",:0123456789-+.eE tfnrulasx\\u".utf8)
        for _ in 0..<5000 {
            let bytes = (0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            if let v = try? JSONParser.parse(bytes) {
                // Whatever parses prints back to JSON that parses to the same value.
                #expect((try? JSONParser.parse(JSONWriter.serialize(v))) == v)
            }
        }
    }
}
