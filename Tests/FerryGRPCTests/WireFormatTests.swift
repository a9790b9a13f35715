import Testing

@testable import FerryGRPC

@Suite("Protobuf wire format")
struct WireFormatTests {
    @Test("varints round-trip at every width boundary")
    func varintRoundTrip() throws {
        let values: [UInt64] = [0, 1, 127, 128, 16_383, 16_384, UInt64(UInt32.max), UInt64(Int64.max), UInt64.max]
        for v in values {
            var w = WireWriter()
            w.writeVarint(v)
            var r = WireReader(w.bytes)
            #expect(try r.readVarint() == v)
            #expect(r.isAtEnd)
        }
        var w = WireWriter()
        w.writeVarint(300)
        #expect(w.bytes == [0xAC, 0x02])
    }

    @Test("zigzag maps small magnitudes to small numbers")
    func zigzag() {
        #expect(ZigZag.encode(0) == 0)
        #expect(ZigZag.encode(-1) == 1)
        #expect(ZigZag.encode(1) == 2)
        #expect(ZigZag.encode(Int64.min) == UInt64.max)
        for v: Int64 in [0, -1, 1, Int64.max, Int64.min, -123_456_789] { #expect(ZigZag.decode(ZigZag.encode(v)) == v) }
    }

    @Test("fixed32 and fixed64 are little-endian")
    func fixed() throws {
        var w = WireWriter()
        w.writeFixed32(0x0102_0304)
        w.writeFixed64(0x0102_0304_0506_0708)
        #expect(w.bytes == [4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1])
        var r = WireReader(w.bytes)
        #expect(try r.readFixed32() == 0x0102_0304)
        #expect(try r.readFixed64() == 0x0102_0304_0506_0708)
    }

    @Test("malformed input is an error naming the problem", arguments: [
        ([0x80], "truncated varint"),
        ([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], "varint longer than 64 bits"),
        ([0x08 | 0x07], "invalid wire type"),
        ([0x00, 0x00], "field number 0"),
        ([0x0A, 0x05, 0x01], "runs past the end"),
        ([0x0D, 0x01, 0x02], "truncated fixed32"),
        ([0x09, 0x01], "truncated fixed64"),
        ([0x0B, 0x14], "closed by end tag"),  // group 1 closed by end of group 2
        ([0x0C], "unexpected end-group"),
    ] as [([UInt8], String)])
    func malformed(bytes: [UInt8], message: String) throws {
        var r = WireReader(bytes)
        let error = #expect(throws: TranscodingError.self) {
            while !r.isAtEnd {
                let (f, t) = try r.readTag()
                try r.skip(t, field: f)
            }
        }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test("unknown fields of every wire type are skipped, groups included")
    func skipsUnknown() throws {
        let pool = try Protoc.pool()
        var w = WireWriter()
        w.writeTag(100, .varint); w.writeVarint(5)
        w.writeTag(101, .fixed64); w.writeFixed64(1)
        w.writeTag(102, .lengthDelimited); w.writeLengthDelimited([1, 2, 3])
        w.writeTag(103, .startGroup); w.writeTag(1, .varint); w.writeVarint(1); w.writeTag(103, .endGroup)
        w.writeTag(104, .fixed32); w.writeFixed32(7)
        w.writeTag(2, .lengthDelimited); w.writeLengthDelimited("kept")
        let book = try DynamicMessage(decoding: w.bytes, as: pool.message("ferry.test.Book"), pool: pool)
        #expect(book.values.keys.sorted() == [2])
        #expect(book.value(2) == .string("kept"))
    }

    @Test("packed and unpacked repeated fields both decode; encoding follows the descriptor")
    func packedAndUnpacked() throws {
        let pool = try Protoc.pool()
        let type = try pool.message("ferry.test.Repeated")
        // r_int32 (5) is packed in proto3, r_unpacked (19) is [packed = false]: send each the other way.
        var w = WireWriter()
        for v in [1, 2] { w.writeTag(5, .varint); w.writeVarint(UInt64(v)) }
        var packed = WireWriter()
        for v in [3, 4] { packed.writeVarint(UInt64(v)) }
        w.writeTag(19, .lengthDelimited); w.writeLengthDelimited(packed.bytes)
        let message = try DynamicMessage(decoding: w.bytes, as: type, pool: pool)
        #expect(message[5] == [.signed(1), .signed(2)])
        #expect(message[19] == [.signed(3), .signed(4)])
        let text = try Protoc.decode("ferry.test.Repeated", message.encoded())
        #expect(text == "r_int32: 1\nr_int32: 2\nr_unpacked: 3\nr_unpacked: 4\n")
        let reference = try Protoc.encode("ferry.test.Repeated", "r_int32: 1 r_int32: 2 r_unpacked: 3 r_unpacked: 4")
        #expect(message.encoded() == reference)
    }

    @Test("a singular message field given twice is merged, a scalar keeps its last value")
    func mergeSemantics() throws {
        let pool = try Protoc.pool()
        let first = try Protoc.encode("ferry.test.Kitchen", "inner { id: 1 tags: \"a\" } scalars { f_int32: 1 }")
        let second = try Protoc.encode("ferry.test.Kitchen", "inner { deeper { leaf: \"x\" } tags: \"b\" } scalars { f_int32: 2 }")
        let merged = try DynamicMessage(decoding: first + second, as: pool.message("ferry.test.Kitchen"), pool: pool)
        #expect(try Protoc.decode("ferry.test.Kitchen", merged.encoded())
                == Protoc.decode("ferry.test.Kitchen", first + second))
    }

    @Test("random and mutated bytes never crash the decoder or the JSON printer")
    func fuzz() throws {
        let pool = try Protoc.pool()
        let config = try TranscoderConfig(descriptorSet: Protoc.descriptorBytes(), services: ["ferry.test.Bookstore"])
        let seed = try Protoc.encode("ferry.test.Kitchen", """
            scalars { f_int64: -5 f_string: "héllo" f_bytes: "\\001\\002" f_double: 1.5 f_enum: BLUE f_sint64: -9 }
            repeated { r_int32: [1, 2, 3] r_string: ["a", "b"] r_unpacked: [7, 8] r_message { f_int32: 4 } }
            str_map { key: "k" value: 1 } int_map { key: -1 value: "v" } bool_map { key: true value { id: 2 } }
            choice_text: "t" opt_int: 0 timestamp { seconds: 1 nanos: 2 } duration { seconds: -1 }
            struct { fields { key: "a" value { list_value { values { number_value: 1 } } } } }
            any { type_url: "type.googleapis.com/ferry.test.Book" value: "\\010\\001" }
            child { child { scalars { f_bool: true } } }
            """)
        let kitchen = try pool.message("ferry.test.Kitchen")
        var rng = SplitMix(seed: 0x5EED)
        var decoded = 0
        for i in 0..<3000 {
            var bytes = seed
            if i % 3 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 3 {
                    case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int(rng.next() % 8)))
                    default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                    }
                    if bytes.isEmpty { bytes = [0] }
                }
            }
            do {
                let message = try DynamicMessage(decoding: bytes, as: kitchen, pool: pool)
                decoded += 1
                _ = try? config.json(message: message.encoded(), type: "ferry.test.Kitchen")
            } catch let error as TranscodingError {
                #expect(!error.message.isEmpty)
            }
        }
        // Both outcomes happen: the mutations are not all fatal, nor all harmless.
        #expect(decoded > 100 && decoded < 2900, "decoded \(decoded)")
    }
}

/// A small deterministic generator so fuzz failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
